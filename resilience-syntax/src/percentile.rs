//! Percentiles as the attributes write them: `p` and a number from 50 to 99.9 with at most one
//! decimal (`p95`, `p99`, `p99.9`), held as per-mille (`950`, `990`, `999`).
//!
//! A hedge's `after` takes a percentile or a duration; the attribute reads `p95` from tokens
//! and the registry reads `"p95"` from a string, both through [`parse`].

/// The smallest percentile, in per-mille (`p50`).
pub const MIN: u32 = 500;
/// The largest percentile, in per-mille (`p99.9`).
pub const MAX: u32 = 999;

/// `text` as a percentile in per-mille, or why it is not one.
///
/// ```
/// use resilience_syntax::percentile::parse;
/// assert_eq!(parse("p95"), Ok(950));
/// assert_eq!(parse("p99.9"), Ok(999));
/// assert!(parse("p100").is_err() && parse("p40").is_err() && parse("95").is_err());
/// ```
pub fn parse(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let Some(number) = t.strip_prefix('p') else {
        return Err(format!("`{t}` is not a percentile: write p95 or p99.9"));
    };
    let (whole, tenth) = match number.split_once('.') {
        Some((w, f)) if f.len() == 1 => (w, f),
        Some(_) => {
            return Err(format!(
                "`{t}` has more than one decimal: a percentile goes to a tenth, as p99.9"
            ));
        }
        None => (number, "0"),
    };
    let (Ok(whole), Ok(tenth)) = (whole.parse::<u32>(), tenth.parse::<u32>()) else {
        return Err(format!("`{t}` is not a percentile: write p95 or p99.9"));
    };
    let per_mille = whole.saturating_mul(10).saturating_add(tenth);
    if !(MIN..=MAX).contains(&per_mille) {
        return Err(format!(
            "`{t}` is outside p50..=p99.9: hedging below the median would hedge most calls, and p100 is the slowest call"
        ));
    }
    Ok(per_mille)
}

/// A percentile as the attributes write it: `p95`, `p99.9`.
///
/// ```
/// use resilience_syntax::percentile::format;
/// assert_eq!(format(950), "p95");
/// assert_eq!(format(999), "p99.9");
/// ```
pub fn format(per_mille: u32) -> String {
    if per_mille.is_multiple_of(10) {
        format!("p{}", per_mille / 10)
    } else {
        format!("p{}.{}", per_mille / 10, per_mille % 10)
    }
}
