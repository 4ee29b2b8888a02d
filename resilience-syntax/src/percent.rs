//! Percentages as the attributes write them: a number followed by `%` (`50%`, `12.5%`), more
//! than 0 and at most 100.
//!
//! The attribute reads `50%` from tokens and the registry reads `"50%"` from a string; both
//! refuse the same values with the same words, from [`Refused::message`].

/// Why a value is not a percentage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A number without `%` (`50`, `0.5`): a percentage is always written with its sign, so
    /// `0.5` cannot be read as 50% or as 0.5%.
    NoPercentSign,
    /// Not a number (`lots%`, `inf%`).
    NotANumber,
    /// Zero or less, or more than 100 (`0%`, `150%`).
    OutOfRange,
}

impl Refused {
    /// What to tell the user about option `key`, with `example` showing what to write
    /// (`threshold = 50%`):
    ///
    /// ```
    /// use resilience_syntax::percent::Refused;
    /// assert_eq!(
    ///     Refused::NoPercentSign.message("threshold", "threshold = 50%"),
    ///     "a percentage needs '%': threshold = 50%"
    /// );
    /// assert_eq!(
    ///     Refused::OutOfRange.message("threshold", "threshold = 50%"),
    ///     "'threshold' must be more than 0% and at most 100%: threshold = 50%"
    /// );
    /// ```
    pub fn message(self, key: &str, example: &str) -> String {
        match self {
            Refused::NoPercentSign => format!("a percentage needs '%': {example}"),
            Refused::NotANumber => format!("'{key}' takes a percentage: {example}"),
            Refused::OutOfRange => {
                format!("'{key}' must be more than 0% and at most 100%: {example}")
            }
        }
    }
}

/// Whether `percent` is in `(0, 100]` (NaN is not).
///
/// ```
/// use resilience_syntax::percent::in_range;
/// assert!(in_range(100.0) && in_range(0.5));
/// assert!(!in_range(0.0) && !in_range(100.5) && !in_range(f64::NAN));
/// ```
pub const fn in_range(percent: f64) -> bool {
    // Written so that NaN fails too.
    percent > 0.0 && percent <= 100.0
}

/// `text` as a percentage: decimal digits with an optional fraction and `_` separators, then
/// `%` (spaces around it allowed), in `(0, 100]`.
///
/// ```
/// use resilience_syntax::percent::{parse, Refused};
/// assert_eq!(parse("12.5%"), Ok(12.5));
/// assert_eq!(parse("50"), Err(Refused::NoPercentSign));
/// assert_eq!(parse("0.5"), Err(Refused::NoPercentSign));
/// assert_eq!(parse("150%"), Err(Refused::OutOfRange));
/// assert_eq!(parse("-5%"), Err(Refused::OutOfRange));
/// assert_eq!(parse("half%"), Err(Refused::NotANumber));
/// ```
pub fn parse(text: &str) -> Result<f64, Refused> {
    let text = text.trim();
    let (number, signed) = match text.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (text, false),
    };
    let digits = number.replace('_', "");
    let unsigned = digits.strip_prefix('-').unwrap_or(&digits);
    // Digits first: `f64::from_str` also takes `inf`, `NaN` and `+5`, which no attribute writes.
    if !unsigned.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Refused::NotANumber);
    }
    let value = digits.parse::<f64>().map_err(|_| Refused::NotANumber)?;
    if !signed {
        return Err(Refused::NoPercentSign);
    }
    if !in_range(value) {
        return Err(Refused::OutOfRange);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_is_a_number_with_its_sign_in_range() {
        assert_eq!(parse("50%"), Ok(50.0));
        assert_eq!(parse(" 50 % "), Ok(50.0));
        assert_eq!(parse("100%"), Ok(100.0));
        assert_eq!(parse("0.5%"), Ok(0.5));
        assert_eq!(parse("1_0%"), Ok(10.0));
        for bare in ["50", "0.5", "25", "100"] {
            assert_eq!(parse(bare), Err(Refused::NoPercentSign), "{bare}");
        }
        for out in ["0%", "100.01%", "-1%", "1e3%"] {
            assert_eq!(parse(out), Err(Refused::OutOfRange), "{out}");
        }
        for junk in ["", "%", "inf%", "NaN%", "+5%", "5x%", "fifty"] {
            assert_eq!(parse(junk), Err(Refused::NotANumber), "{junk}");
        }
    }
}
