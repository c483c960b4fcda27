//! HDR histograms in evidence: HDR's V2 format in base64, the form every crate attaches
//! and the report merges.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2Serializer};

/// The largest latency a histogram keeps: one hour, in microseconds (larger values are
/// recorded as one hour).
pub const HIGHEST_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant figures. It starts small (values up
/// to about 1 ms, ~16 KB) and grows as larger values arrive, instead of the 190 KB a
/// histogram sized for an hour takes from the start.
pub fn new_latency() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 1024, 3) {
        Ok(mut h) => {
            h.auto(true);
            h
        }
        Err(e) => unreachable!("fixed histogram bounds are valid: {e}"),
    }
}

/// `d` in whole microseconds, within 1 µs ..= [`HIGHEST_US`].
pub fn micros(d: std::time::Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, HIGHEST_US)
}

/// The value at percentile `p` of a latency histogram (µs) as a duration; `None` when it is
/// empty (a percentile of nothing is not 0 ms). What every latency criterion judges, and
/// what [`crate::Evidence::verify`] derives again.
pub fn percentile(h: &Histogram<u64>, p: crate::Percentile) -> Option<std::time::Duration> {
    (!h.is_empty()).then(|| std::time::Duration::from_micros(h.value_at_quantile(p.quantile())))
}

/// `h` in HDR's V2 format, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    base64::engine::general_purpose::STANDARD.encode(to_v2(h))
}

/// `h` in HDR's V2 format (empty when it cannot be serialized).
pub fn to_v2(h: &Histogram<u64>) -> Vec<u8> {
    let mut buf = Vec::new();
    if V2Serializer::new().serialize(h, &mut buf).is_err() {
        buf.clear();
    }
    buf
}

/// V2 bytes in base64, as [`encode`] writes them.
pub fn v2_to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads HDR's V2 format (plain or deflate-compressed). The histogram grows as values are
/// added (a deserialized histogram is sized for its own largest value; adding another with a
/// larger one would otherwise fail).
pub fn from_v2(bytes: &[u8]) -> Option<Histogram<u64>> {
    let mut h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .ok()?;
    h.auto(true);
    Some(h)
}

/// Decodes [`encode`]'s output.
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    from_v2(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_count() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for v in [1u64, 10, 999, 1_000, 123_456, 3_000_000] {
            h.record(v).expect("in range");
        }
        let back = decode(&encode(&h)).expect("decodes");
        assert_eq!(back.len(), h.len());
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert!(decode("not base64!").is_none());
        // A decoded histogram takes values beyond its own largest.
        let mut small = decode(&encode(&h)).expect("decodes");
        let mut big = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        big.record(3_000_000_000).expect("in range");
        small.add(&big).expect("grows");
        assert_eq!(small.len(), h.len() + 1);
    }
}
