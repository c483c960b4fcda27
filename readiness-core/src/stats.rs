//! The statistics behind the verdicts, in one place for the writers and the report: a
//! slope with its interval (drift), the interval of a quantile from a histogram, of a
//! proportion and of the difference of two, and of the ratio of two rates. Every interval
//! is a 95% interval.

use hdrhistogram::Histogram;

pub use crate::attachment::Slope;

/// z for a two-sided 95% interval.
const Z: f64 = 1.959_964;

/// Student's t, 97.5% quantile, for `df` degrees of freedom (table values; 1.96 past 120).
fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        31..=40 => 2.021,
        41..=60 => 2.000,
        61..=120 => 1.980,
        _ => Z,
    }
}

/// Fits y = a + b x by least squares; `None` with fewer than 3 points or no spread in x.
pub fn slope(points: &[(f64, f64)]) -> Option<Slope> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let b = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    let a = my - b * mx;
    let sse: f64 = points.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    let t = t975(n - 2);
    Some(Slope {
        per_second: b,
        low: b - t * se,
        high: b + t * se,
        n,
    })
}

/// The interval of quantile `q` (0 < q < 1) of the histogram's samples, from the order
/// statistics (ranks n·q ± 1.96·√(n·q·(1−q))): (low, estimate, high) in the histogram's
/// unit. `None` with fewer than 20 samples.
pub fn quantile_interval(h: &Histogram<u64>, q: f64) -> Option<(f64, f64, f64)> {
    let n = h.len() as f64;
    if n < 20.0 || !(q > 0.0 && q < 1.0) {
        return None;
    }
    let half = Z * (n * q * (1.0 - q)).sqrt();
    let at = |rank: f64| h.value_at_quantile((rank / n).clamp(0.0, 1.0)) as f64;
    Some((
        at((n * q - half).floor()),
        at(n * q),
        at((n * q + half).ceil()),
    ))
}

/// Wilson's score interval of the proportion `events / trials`; `None` without trials.
pub fn wilson(events: u64, trials: u64) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = events.min(trials) as f64 / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let low = if events == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if events >= trials {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some((low, high))
}

/// Newcombe's interval (method 10, from two Wilson intervals) of the difference of two
/// proportions, `b − a`; works with zero events. `None` when either has no trials.
pub fn proportion_difference(a: (u64, u64), b: (u64, u64)) -> Option<(f64, f64, f64)> {
    let (l1, u1) = wilson(a.0, a.1)?;
    let (l2, u2) = wilson(b.0, b.1)?;
    let p1 = a.0.min(a.1) as f64 / a.1 as f64;
    let p2 = b.0.min(b.1) as f64 / b.1 as f64;
    let d = p2 - p1;
    let low = d - ((p2 - l2).powi(2) + (u1 - p1).powi(2)).sqrt();
    let high = d + ((u2 - p2).powi(2) + (p1 - l1).powi(2)).sqrt();
    Some((low, d, high))
}

/// The interval of the ratio of two Poisson rates, `(b_events / b_seconds) / (a_events /
/// a_seconds)`, on the log scale (with ½ added to each count so zero counts stay finite).
/// `None` for a non-positive duration.
pub fn rate_ratio(a: (u64, f64), b: (u64, f64)) -> Option<(f64, f64, f64)> {
    if !(a.1 > 0.0 && b.1 > 0.0) {
        return None;
    }
    let (ea, eb) = (a.0 as f64 + 0.5, b.0 as f64 + 0.5);
    let ratio = (eb / b.1) / (ea / a.1);
    let se = (1.0 / ea + 1.0 / eb).sqrt();
    Some((ratio * (-Z * se).exp(), ratio, ratio * (Z * se).exp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..20).map(|x| (x as f64, 3.0 + 2.0 * x as f64)).collect();
        let s = slope(&line).expect("slope");
        assert!((s.per_second - 2.0).abs() < 1e-9 && (s.high - s.low) < 1e-6);
        let flat: Vec<(f64, f64)> = (0..20)
            .map(|x| (x as f64, if x % 2 == 0 { 10.0 } else { 11.0 }))
            .collect();
        let s = slope(&flat).expect("slope");
        assert!(
            s.low < 0.0 && s.high > 0.0,
            "the interval of noise holds zero: {s:?}"
        );
        assert!(slope(&line[..2]).is_none());
    }

    #[test]
    fn wilson_and_newcombe_match_published_values() {
        // Newcombe (1998), table II, example (a): 56/70 vs 48/80 -> difference 0.2,
        // method 10 interval 0.0524 .. 0.3339.
        let (low, d, high) = proportion_difference((48, 80), (56, 70)).expect("trials");
        assert!((d - 0.2).abs() < 1e-9);
        assert!((low - 0.0524).abs() < 5e-4, "{low}");
        assert!((high - 0.3339).abs() < 5e-4, "{high}");
        // Zero events still give an interval that is not a point.
        let (l, u) = wilson(0, 1000).expect("trials");
        assert_eq!(l, 0.0);
        assert!(u > 0.003 && u < 0.004, "{u}");
        assert_eq!(wilson(1, 0), None);
    }

    #[test]
    fn an_error_rate_from_0_1_to_5_percent_is_outside_any_interval_of_no_change() {
        let (low, _, _) = proportion_difference((1, 1000), (50, 1000)).expect("trials");
        assert!(low > 0.03, "{low}");
        let (low, _, high) = proportion_difference((10, 1000), (12, 1000)).expect("trials");
        assert!(low < 0.0 && high > 0.0);
    }

    #[test]
    fn rate_ratio_interval_holds_one_for_equal_rates() {
        let (low, r, high) = rate_ratio((10_000, 10.0), (10_000, 10.0)).expect("rates");
        assert!((r - 1.0).abs() < 1e-9 && low < 1.0 && high > 1.0);
        let (_, r, high) = rate_ratio((10_000, 10.0), (5_000, 10.0)).expect("rates");
        assert!((r - 0.5).abs() < 1e-3 && high < 0.6);
        assert!(rate_ratio((1, 0.0), (1, 1.0)).is_none());
    }
}
