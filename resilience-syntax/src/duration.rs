//! Durations as the attributes write them: a number with a unit, `250ms`, `1.5s`, `2m`, `1h`.

/// Nanoseconds in a millisecond.
const MS: u64 = 1_000_000;

/// The units, largest first, with their size in nanoseconds.
pub const UNITS: [(&str, u64); 4] = [
    ("h", 3_600_000 * MS),
    ("m", 60_000 * MS),
    ("s", 1_000 * MS),
    ("ms", MS),
];

/// The nanoseconds in one `unit` (`"ms"`, `"s"`, `"m"`, `"h"`), or `None` for any other unit.
///
/// ```
/// assert_eq!(resilience_syntax::duration::unit_nanos("s"), Some(1_000_000_000));
/// assert_eq!(resilience_syntax::duration::unit_nanos("d"), None);
/// ```
pub fn unit_nanos(unit: &str) -> Option<u64> {
    UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, n)| *n)
}

/// `number` (decimal digits, with an optional fraction and `_` separators: `1_500`, `1.5`) times
/// `unit` nanoseconds, rounded to the nanosecond; `None` when it is not a number, is negative, or
/// does not fit in a `u64` (about 584 years).
///
/// ```
/// use resilience_syntax::duration::{scale, unit_nanos};
/// let s = unit_nanos("s").unwrap_or(0);
/// assert_eq!(scale("1.5", s), Some(1_500_000_000));
/// assert_eq!(scale("1_000", s), Some(1_000_000_000_000));
/// assert_eq!(scale("-1", s), None);
/// ```
pub fn scale(number: &str, unit: u64) -> Option<u64> {
    let digits = number.replace('_', "");
    if !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if let Ok(whole) = digits.parse::<u64>() {
        return whole.checked_mul(unit);
    }
    let nanos = digits.parse::<f64>().ok()? * unit as f64;
    // `u64::MAX as f64` rounds up to 2^64, so `<` keeps the cast below in range.
    (nanos.is_finite() && nanos < u64::MAX as f64).then(|| nanos.round() as u64)
}

/// A duration in the largest unit that writes it whole (`30s`, `1500ms`, `5m`), otherwise in
/// seconds with decimals (`0.0000015s`), so what is printed can be written back.
///
/// ```
/// use resilience_syntax::duration::format;
/// assert_eq!(format(90_000_000_000), "90s");
/// assert_eq!(format(1_500_000), "0.0015s");
/// assert_eq!(format(0), "0s");
/// ```
pub fn format(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    match UNITS.iter().find(|(_, size)| nanos.is_multiple_of(*size)) {
        Some((unit, size)) => format!("{}{unit}", nanos / size),
        None => format!("{}s", nanos as f64 / 1e9),
    }
}

/// A duration with its unit, as the attributes write it: `250ms`, `1.5s`, `2m`, `1h` (the
/// units and scaling above). The error says what to write instead.
pub fn parse(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = match unit.trim() {
        "" => return Err(format!("`{s}` needs a unit: write 30s, 500ms, 2m or 1h")),
        unit => unit_nanos(unit).ok_or_else(|| {
            format!("unknown unit `{unit}` in `{s}`: write ms, s, m or h (30s, 500ms, 2m)")
        })?,
    };
    scale(number, unit)
        .map(std::time::Duration::from_nanos)
        .ok_or_else(|| format!("`{s}` is not a duration: write 30s, 500ms, 2m or 1h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_fractional_numbers_scale_by_the_unit() {
        assert_eq!(scale("250", MS), Some(250 * MS));
        assert_eq!(scale("0.5", 1_000 * MS), Some(500 * MS));
        assert_eq!(scale("1e3", MS), Some(1_000 * MS));
        assert_eq!(scale("", MS), None);
        assert_eq!(scale(".5", MS), None);
        assert_eq!(scale("x", MS), None);
    }

    #[test]
    fn too_long_a_duration_does_not_fit() {
        assert_eq!(scale("10000000", 3_600_000 * MS), None);
        assert_eq!(scale("1e300", MS), None);
    }

    #[test]
    fn durations_print_in_their_largest_whole_unit() {
        for (nanos, text) in [
            (1_500 * MS, "1500ms"),
            (5_000 * MS, "5s"),
            (120_000 * MS, "2m"),
            (7_200_000 * MS, "2h"),
            (10, "0.00000001s"),
        ] {
            assert_eq!(format(nanos), text);
        }
    }
}
