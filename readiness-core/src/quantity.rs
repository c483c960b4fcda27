//! Typed quantities with units, and thresholds over them.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A measured or required value with its unit.
///
/// Serialized as `{"unit": "seconds", "value": 0.8124}`; every unit has one base
/// (seconds, per second, ratio 0..=1, count, bytes) so values compare without conversion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "unit", content = "value")]
#[non_exhaustive]
pub enum Quantity {
    /// A duration in seconds.
    #[serde(rename = "seconds")]
    Duration(f64),
    /// Events per second.
    #[serde(rename = "per_second")]
    Rate(f64),
    /// A ratio, 0.0 ..= 1.0 (shown as a percentage).
    #[serde(rename = "ratio")]
    Ratio(f64),
    /// A count of things.
    #[serde(rename = "count")]
    Count(u64),
    /// A size in bytes.
    #[serde(rename = "bytes")]
    Bytes(u64),
}

/// The unit of a [`Quantity`], for error messages and matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Per second.
    PerSecond,
    /// Ratio.
    Ratio,
    /// Count.
    Count,
    /// Bytes.
    Bytes,
}

impl Unit {
    /// The base unit's name as records write it (`seconds`, `per_second`, `ratio`,
    /// `count`, `bytes`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::PerSecond => "per_second",
            Unit::Ratio => "ratio",
            Unit::Count => "count",
            Unit::Bytes => "bytes",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Seconds => "a duration",
            Unit::PerSecond => "a rate",
            Unit::Ratio => "a ratio",
            Unit::Count => "a count",
            Unit::Bytes => "a size in bytes",
        })
    }
}

impl Quantity {
    /// A duration.
    pub fn duration(d: Duration) -> Self {
        Quantity::Duration(d.as_secs_f64())
    }
    /// A duration in milliseconds.
    pub fn millis(ms: f64) -> Self {
        Quantity::Duration(ms / 1e3)
    }
    /// A duration in seconds.
    pub fn secs(s: f64) -> Self {
        Quantity::Duration(s)
    }
    /// A rate per second.
    pub fn per_second(r: f64) -> Self {
        Quantity::Rate(r)
    }
    /// A ratio, 0.0 ..= 1.0.
    pub fn ratio(r: f64) -> Self {
        Quantity::Ratio(r)
    }
    /// A percentage, 0 ..= 100 (stored as a ratio).
    pub fn percent(p: f64) -> Self {
        Quantity::Ratio(p / 100.0)
    }
    /// A count.
    pub fn count(n: u64) -> Self {
        Quantity::Count(n)
    }
    /// A size in bytes.
    pub fn bytes(n: u64) -> Self {
        Quantity::Bytes(n)
    }

    /// The value in the unit's base (seconds, per second, ratio, count, bytes).
    pub fn value(&self) -> f64 {
        match *self {
            Quantity::Duration(v) | Quantity::Rate(v) | Quantity::Ratio(v) => v,
            Quantity::Count(n) | Quantity::Bytes(n) => n as f64,
        }
    }

    /// The unit.
    pub fn unit(&self) -> Unit {
        match self {
            Quantity::Duration(_) => Unit::Seconds,
            Quantity::Rate(_) => Unit::PerSecond,
            Quantity::Ratio(_) => Unit::Ratio,
            Quantity::Count(_) => Unit::Count,
            Quantity::Bytes(_) => Unit::Bytes,
        }
    }

    /// Checks that the value is a usable limit or measurement: finite, not negative, a
    /// ratio within 0..=1.
    pub fn validate(&self) -> Result<Self> {
        let v = self.value();
        if !v.is_finite() {
            return Err(Error::InvalidInput(format!(
                "{} must be a finite number, got {v}",
                self.unit()
            )));
        }
        if v < 0.0 {
            return Err(Error::InvalidInput(format!(
                "{} cannot be negative, got {v}",
                self.unit()
            )));
        }
        if let Quantity::Ratio(r) = self
            && *r > 1.0
        {
            return Err(Error::InvalidInput(format!(
                "a ratio must be within 0..=1 (0%..=100%), got {r} ({})",
                fmt_percent(*r)
            )));
        }
        Ok(*self)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Quantity::Duration(s) => f.write_str(&fmt_seconds(s)),
            Quantity::Rate(r) => write!(f, "{}/s", fmt_number(r)),
            Quantity::Ratio(r) => f.write_str(&fmt_percent(r)),
            Quantity::Count(n) => f.write_str(&fmt_thousands(n)),
            Quantity::Bytes(n) => f.write_str(&fmt_bytes(n)),
        }
    }
}

/// `812.4ms`, `1.92s`, `45µs`, `12m 03s`, `3h 05m`, `30d`.
fn fmt_seconds(s: f64) -> String {
    if !s.is_finite() {
        return format!("{s}s");
    }
    if s == 0.0 {
        // "back at once", "none lost": nothing, not a microsecond figure.
        return "0s".into();
    }
    if s < 1e-3 {
        format!("{}µs", trim(s * 1e6, 1))
    } else if s < 1.0 {
        format!("{}ms", trim(s * 1e3, 1))
    } else if s < 60.0 {
        format!("{}s", trim(s, 2))
    } else if s < 3600.0 {
        // Rounded whole, then split: 119.6 s is "2m 00s", never "1m 60s".
        let total = s.round() as u64;
        format!("{}m {:02}s", total / 60, total % 60)
    } else if s < 2.0 * 86_400.0 {
        let minutes = (s / 60.0).round() as u64;
        format!("{}h {:02}m", minutes / 60, minutes % 60)
    } else {
        // Retention, certificates: days read better than hours.
        let mut d = (s / 86_400.0).floor();
        let mut h = ((s - d * 86_400.0) / 3600.0).round() as u64;
        if h == 24 {
            // 89 days and 23.6 hours is 90 days, not "89d 24h".
            d += 1.0;
            h = 0;
        }
        if h == 0 {
            format!("{}d", d as u64)
        } else {
            format!("{}d {h:02}h", d as u64)
        }
    }
}

fn fmt_percent(r: f64) -> String {
    let p = r * 100.0;
    if p != 0.0 && p.abs() < 0.01 {
        format!("{p:.3}%")
    } else {
        format!("{}%", trim(p, 2))
    }
}

fn fmt_number(v: f64) -> String {
    if v.abs() >= 1000.0 && v.fract().abs() < 1e-9 {
        fmt_thousands(v as u64)
    } else if v.abs() >= 1000.0 {
        format!(
            "{}{}",
            fmt_thousands(v.trunc() as u64),
            &format!("{:.1}", v.fract())[1..]
        )
    } else {
        trim(v, 2)
    }
}

fn fmt_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{} {}", trim(v, 1), UNITS[unit])
    }
}

/// At most `decimals` decimals, trailing zeros removed: 812.40 -> "812.4", 2.0 -> "2".
fn trim(v: f64, decimals: usize) -> String {
    // The shortest form that reads back as `v` is quick to make and has no trailing zeros:
    // when it has no more decimals than asked, it is the answer; only the rest are rounded.
    let short = v.to_string();
    match short.split_once('.') {
        None => return short,
        Some((_, fraction)) if fraction.len() <= decimals => return short,
        Some(_) => {}
    }
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A percentile, 0 < p <= 100 (p95 = `Percentile::new(95.0)`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Percentile(f64);

impl Percentile {
    /// The median.
    pub const P50: Percentile = Percentile(50.0);
    /// p95.
    pub const P95: Percentile = Percentile(95.0);
    /// p99.
    pub const P99: Percentile = Percentile(99.0);

    /// A percentile; errors outside `0 < p <= 100` or when not finite.
    pub fn new(p: f64) -> Result<Self> {
        if p.is_finite() && p > 0.0 && p <= 100.0 {
            Ok(Percentile(p))
        } else {
            Err(Error::InvalidInput(format!(
                "a percentile must be greater than 0 and at most 100 (p95 = 95.0), got {p}"
            )))
        }
    }
    /// The percentile, e.g. 95.0.
    pub fn value(self) -> f64 {
        self.0
    }
    /// As a quantile, e.g. 0.95.
    pub fn quantile(self) -> f64 {
        self.0 / 100.0
    }
}

impl TryFrom<f64> for Percentile {
    type Error = Error;
    fn try_from(p: f64) -> Result<Self> {
        Percentile::new(p)
    }
}

impl From<Percentile> for f64 {
    fn from(p: Percentile) -> f64 {
        p.0
    }
}

impl fmt::Display for Percentile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", trim(self.0, 3))
    }
}

/// A ratio, 0 ..= 1 (an error rate, a share): validated once, at the edge.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Ratio(f64);

impl Ratio {
    /// 0%.
    pub const ZERO: Ratio = Ratio(0.0);
    /// 100%.
    pub const ONE: Ratio = Ratio(1.0);

    /// A ratio known when the code is written (a default); `None` outside `0 ..= 1`.
    pub const fn new_const(r: f64) -> Option<Self> {
        if r >= 0.0 && r <= 1.0 {
            Some(Ratio(r))
        } else {
            None
        }
    }
    /// A ratio; errors outside `0 ..= 1` or when not finite.
    pub fn new(r: f64) -> Result<Self> {
        Quantity::Ratio(r).validate().map(|_| Ratio(r))
    }
    /// A percentage, `0 ..= 100` (1.0 = 1%).
    pub fn percent(p: f64) -> Result<Self> {
        Ratio::new(p / 100.0).map_err(|_| {
            Error::InvalidInput(format!("a percentage must be within 0..=100, got {p}"))
        })
    }
    /// `events / trials`; `None` when there were no trials (a share of nothing is not 0%).
    pub fn of(events: u64, trials: u64) -> Option<Self> {
        (trials > 0).then(|| Ratio(events.min(trials) as f64 / trials as f64))
    }
    /// The ratio, 0.0 ..= 1.0.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Ratio {
    type Error = Error;
    fn try_from(r: f64) -> Result<Self> {
        Ratio::new(r)
    }
}

impl From<Ratio> for f64 {
    fn from(r: Ratio) -> f64 {
        r.0
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_percent(self.0))
    }
}

/// A rate of events per second, finite and not negative: validated once, at the edge.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Rate(f64);

impl Rate {
    /// No events.
    pub const ZERO: Rate = Rate(0.0);

    /// Events per second; errors when negative or not finite.
    pub fn per_second(r: f64) -> Result<Self> {
        Quantity::Rate(r).validate().map(|_| Rate(r))
    }
    /// Events per minute ("1,000 requests per minute").
    pub fn per_minute(r: f64) -> Result<Self> {
        Rate::per_second(r / 60.0)
    }
    /// `events` over `over`; `None` for a zero duration.
    pub fn of(events: u64, over: Duration) -> Option<Self> {
        (!over.is_zero()).then(|| Rate(events as f64 / over.as_secs_f64()))
    }
    /// Per second.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Rate {
    type Error = Error;
    fn try_from(r: f64) -> Result<Self> {
        Rate::per_second(r)
    }
}

impl From<Rate> for f64 {
    fn from(r: Rate) -> f64 {
        r.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Quantity::Rate(self.0).fmt(f)
    }
}

/// A count of things, as a limit (`Threshold::at_most(Count(0))`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count(pub u64);

/// A size in bytes, as a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

/// A typed value a [`Threshold`] can be built from without a `Result`: each is valid by
/// its type ([`Duration`], [`Ratio`], [`Rate`], [`Count`], [`Bytes`]).
pub trait Limit: Copy + sealed::Sealed {
    /// The limit as a quantity.
    fn quantity(self) -> Quantity;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::time::Duration {}
    impl Sealed for super::Ratio {}
    impl Sealed for super::Rate {}
    impl Sealed for super::Count {}
    impl Sealed for super::Bytes {}
}

impl Limit for Duration {
    fn quantity(self) -> Quantity {
        Quantity::duration(self)
    }
}
impl Limit for Ratio {
    fn quantity(self) -> Quantity {
        Quantity::Ratio(self.0)
    }
}
impl Limit for Rate {
    fn quantity(self) -> Quantity {
        Quantity::Rate(self.0)
    }
}
impl Limit for Count {
    fn quantity(self) -> Quantity {
        Quantity::Count(self.0)
    }
}
impl Limit for Bytes {
    fn quantity(self) -> Quantity {
        Quantity::Bytes(self.0)
    }
}

impl From<Ratio> for Quantity {
    fn from(r: Ratio) -> Self {
        r.quantity()
    }
}
impl From<Rate> for Quantity {
    fn from(r: Rate) -> Self {
        r.quantity()
    }
}
impl From<Duration> for Quantity {
    fn from(d: Duration) -> Self {
        Quantity::duration(d)
    }
}

/// A limit a measured [`Quantity`] is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Threshold {
    /// The observed value must not exceed `limit`.
    AtMost {
        /// The limit.
        limit: Quantity,
    },
    /// The observed value must reach at least `limit`.
    AtLeast {
        /// The limit.
        limit: Quantity,
    },
    /// The observed value must lie within `low ..= high`.
    Within {
        /// Lower bound.
        low: Quantity,
        /// Upper bound.
        high: Quantity,
    },
}

/// The outcome of judging one value against a [`Threshold`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// Whether the threshold is met.
    pub met: bool,
    /// observed / the limit that applies (`None` where the limit is zero).
    pub margin: Option<f64>,
}

impl Threshold {
    /// `observed <= limit`. The limit is a typed value ([`Duration`], [`Ratio`], [`Rate`],
    /// [`Count`], [`Bytes`]), so the threshold is valid by construction.
    pub fn at_most(limit: impl Limit) -> Self {
        Threshold::AtMost {
            limit: limit.quantity(),
        }
    }
    /// `observed >= limit`.
    pub fn at_least(limit: impl Limit) -> Self {
        Threshold::AtLeast {
            limit: limit.quantity(),
        }
    }
    /// `low <= observed <= high`; errors when `low` is above `high`.
    pub fn within<L: Limit>(low: L, high: L) -> Result<Self> {
        let (low, high) = (low.quantity(), high.quantity());
        if low.value() > high.value() {
            return Err(Error::InvalidInput(format!(
                "the lower bound {low} is above the upper bound {high}"
            )));
        }
        Ok(Threshold::Within { low, high })
    }

    /// Checks a threshold read from a file (where it may not be valid): every bound a
    /// usable limit, bounds of one unit and in order.
    pub fn validate(&self) -> Result<()> {
        match self {
            Threshold::AtMost { limit } | Threshold::AtLeast { limit } => {
                limit.validate().map(|_| ())
            }
            Threshold::Within { low, high } => {
                let (low, high) = (low.validate()?, high.validate()?);
                if low.unit() != high.unit() {
                    return Err(Error::InvalidInput(format!(
                        "the bounds of a range must have one unit, got {} and {}",
                        low.unit(),
                        high.unit()
                    )));
                }
                if low.value() > high.value() {
                    return Err(Error::InvalidInput(format!(
                        "the lower bound {low} is above the upper bound {high}"
                    )));
                }
                Ok(())
            }
        }
    }

    /// The unit observed values must have.
    pub fn unit(&self) -> Unit {
        match self {
            Threshold::AtMost { limit } | Threshold::AtLeast { limit } => limit.unit(),
            Threshold::Within { low, .. } => low.unit(),
        }
    }

    /// Judges `observed`; errors when its unit differs or it is not a finite number.
    pub fn judge(&self, observed: Quantity) -> Result<Judgement> {
        if observed.unit() != self.unit() {
            return Err(Error::InvalidInput(format!(
                "observed {observed} is {} but the threshold \"{self}\" needs {}",
                observed.unit(),
                self.unit()
            )));
        }
        let v = observed
            .validate()
            .map_err(|e| Error::InvalidInput(format!("observed value: {e}")))?
            .value();
        let ratio = |limit: &Quantity| (limit.value() != 0.0).then(|| v / limit.value());
        Ok(match self {
            Threshold::AtMost { limit } => Judgement {
                met: v <= limit.value(),
                margin: ratio(limit),
            },
            Threshold::AtLeast { limit } => Judgement {
                met: v >= limit.value(),
                margin: ratio(limit),
            },
            Threshold::Within { low, high } => {
                let met = v >= low.value() && v <= high.value();
                let margin = if v < low.value() {
                    ratio(low)
                } else {
                    ratio(high)
                };
                Judgement { met, margin }
            }
        })
    }

    /// How far `observed` is inside or outside the limit, in words ("1.62x over the limit").
    pub fn describe_margin(&self, observed: Quantity) -> String {
        let v = observed.value();
        match self {
            Threshold::AtMost { limit } => match limit.value() {
                0.0 if v == 0.0 => "exactly at the limit of zero".to_owned(),
                0.0 => format!("{observed} over a limit of zero"),
                l if v > l => format!("{:.2}x over the limit", v / l),
                l => format!(
                    "{:.2}x of the limit ({} of headroom)",
                    v / l,
                    diff(*limit, l - v)
                ),
            },
            Threshold::AtLeast { limit } => match limit.value() {
                0.0 => "any value meets a minimum of zero".to_owned(),
                l if v < l => format!(
                    "{:.2}x of the required minimum ({} short)",
                    v / l,
                    diff(*limit, l - v)
                ),
                l => format!("{:.2}x the required minimum", v / l),
            },
            Threshold::Within { low, high } => {
                if v < low.value() {
                    format!("{} below the range", diff(*low, low.value() - v))
                } else if v > high.value() {
                    format!("{} above the range", diff(*high, v - high.value()))
                } else {
                    "inside the range".to_owned()
                }
            }
        }
    }
}

/// A difference shown in the unit of `like`.
fn diff(like: Quantity, amount: f64) -> Quantity {
    match like {
        Quantity::Duration(_) => Quantity::Duration(amount),
        Quantity::Rate(_) => Quantity::Rate(amount),
        Quantity::Ratio(_) => Quantity::Ratio(amount),
        Quantity::Count(_) => Quantity::Count(amount.round() as u64),
        Quantity::Bytes(_) => Quantity::Bytes(amount.round() as u64),
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::AtMost { limit } => write!(f, "at most {limit}"),
            Threshold::AtLeast { limit } => write!(f, "at least {limit}"),
            Threshold::Within { low, high } => write!(f, "between {low} and {high}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The quick path of `trim` gives what rounding to `decimals` and trimming gives.
        #[test]
        fn trim_is_rounding_then_trimming(v in -1e7f64..1e7, decimals in 0usize..4) {
            let exact = format!("{v:.decimals$}");
            let exact = if exact.contains('.') {
                exact.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                exact
            };
            proptest::prop_assert_eq!(trim(v, decimals), exact);
        }
    }

    #[test]
    fn a_unit_is_named_as_records_write_it() {
        for q in [
            Quantity::secs(1.0),
            Quantity::per_second(1.0),
            Quantity::ratio(0.5),
            Quantity::count(1),
            Quantity::bytes(1),
        ] {
            let written = serde_json::to_value(q).expect("a quantity serializes");
            assert_eq!(written["unit"], q.unit().as_str(), "{q:?}");
        }
    }

    #[test]
    fn displays_with_units() {
        assert_eq!(Quantity::millis(812.4).to_string(), "812.4ms");
        assert_eq!(Quantity::secs(1.92).to_string(), "1.92s");
        assert_eq!(Quantity::secs(723.0).to_string(), "12m 03s");
        assert_eq!(Quantity::secs(3.0 * 3600.0 + 300.0).to_string(), "3h 05m");
        assert_eq!(Quantity::secs(30.0 * 86_400.0).to_string(), "30d");
        // Rounding carries into the next unit.
        assert_eq!(Quantity::secs(119.6).to_string(), "2m 00s");
        assert_eq!(Quantity::secs(2.0 * 3600.0 - 10.0).to_string(), "2h 00m");
        assert_eq!(Quantity::secs(90.0 * 86_400.0 - 600.0).to_string(), "90d");
        assert_eq!(Quantity::secs(7.5 * 86_400.0).to_string(), "7d 12h");
        assert_eq!(Quantity::secs(0.000_045).to_string(), "45µs");
        assert_eq!(Quantity::secs(0.0).to_string(), "0s");
        assert_eq!(Quantity::per_second(200.0).to_string(), "200/s");
        assert_eq!(Quantity::per_second(12_345.0).to_string(), "12,345/s");
        assert_eq!(Quantity::ratio(0.008).to_string(), "0.8%");
        assert_eq!(Quantity::count(12_004).to_string(), "12,004");
        assert_eq!(Quantity::bytes(5 * 1024 * 1024).to_string(), "5 MiB");
        assert_eq!(Percentile::P95.to_string(), "p95");
        assert_eq!(
            Percentile::new(99.9).map(|p| p.to_string()).ok(),
            Some("p99.9".into())
        );
    }

    #[test]
    fn invalid_limits_are_errors_at_the_edge_and_thresholds_cannot_fail() {
        let msg = |r: Result<Ratio>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(Ratio::new(1.2)).contains("within 0..=1"));
        assert!(msg(Ratio::new(-0.1)).contains("cannot be negative"));
        assert!(msg(Ratio::new(f64::NAN)).contains("finite"));
        assert!(msg(Ratio::percent(120.0)).contains("within 0..=100"));
        let rate = Rate::per_second(-3.0).err().map(|e| e.to_string());
        assert!(rate.unwrap_or_default().contains("cannot be negative"));
        assert_eq!(Ratio::of(3, 0), None, "a share of nothing is not 0%");
        assert_eq!(Ratio::of(1, 4).map(Ratio::value), Some(0.25));
        let e = Threshold::within(Duration::from_secs(2), Duration::from_secs(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("above the upper bound"), "{e}");
        // Read from a file, a threshold can be anything: validate() says what is wrong.
        let bad = Threshold::AtMost {
            limit: Quantity::secs(-1.0),
        };
        let e = bad
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("cannot be negative"), "{e}");
        let mixed = Threshold::Within {
            low: Quantity::secs(1.0),
            high: Quantity::count(3),
        };
        assert!(mixed.validate().is_err());
        for p in [0.0, -5.0, 100.5, f64::NAN] {
            let e = Percentile::new(p)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("percentile must be greater than 0"), "{p}: {e}");
        }
    }

    #[test]
    fn judges_and_describes_margins() -> Result<()> {
        let t = Threshold::at_most(Duration::from_millis(500));
        let j = t.judge(Quantity::millis(812.4))?;
        assert!(!j.met);
        assert!((j.margin.unwrap_or_default() - 1.6248).abs() < 1e-9);
        assert_eq!(
            t.describe_margin(Quantity::millis(812.4)),
            "1.62x over the limit"
        );
        assert!(t.judge(Quantity::millis(500.0))?.met);
        let negative = t.judge(Quantity::millis(-3.0)).err().map(|e| e.to_string());
        assert!(
            negative.unwrap_or_default().contains("cannot be negative"),
            "a negative latency is not a measurement"
        );
        let t = Threshold::at_least(Rate::per_second(200.0)?);
        assert!(!t.judge(Quantity::per_second(150.0))?.met);
        assert_eq!(
            t.describe_margin(Quantity::per_second(150.0)),
            "0.75x of the required minimum (50/s short)"
        );
        let e = t
            .judge(Quantity::millis(3.0))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("is a duration but the threshold \"at least 200/s\" needs a rate"),
            "{e}"
        );
        let zero = Threshold::at_most(Ratio::ZERO);
        assert_eq!(
            zero.judge(Quantity::ratio(0.01))?,
            Judgement {
                met: false,
                margin: None
            }
        );
        Ok(())
    }

    #[test]
    fn serializes_with_unit_tags() -> Result<()> {
        let t = Threshold::at_most(Duration::from_millis(500));
        let json = serde_json::to_string(&t).map_err(|e| Error::Other(e.to_string()))?;
        assert_eq!(
            json,
            r#"{"kind":"at_most","limit":{"unit":"seconds","value":0.5}}"#
        );
        let back: Threshold =
            serde_json::from_str(&json).map_err(|e| Error::Other(e.to_string()))?;
        assert_eq!(back, t);
        Ok(())
    }
}
