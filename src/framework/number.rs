//! Exact numbers, as cty keeps them (arbitrary precision, plus the two infinities).
//!
//! Terraform sends numbers as msgpack ints, floats or decimal strings; an i64 or f64 alone
//! would silently round large or precise values, so the decimal form is kept.

use std::fmt;
use std::str::FromStr;

use bigdecimal::{BigDecimal, ToPrimitive, Zero};

/// A cty number.
#[derive(Debug, Clone)]
pub enum Number {
    /// Any finite decimal, exactly.
    Finite(BigDecimal),
    /// Positive infinity.
    PosInf,
    /// Negative infinity.
    NegInf,
}

/// Text that is not a number, or one too large or too small to work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NumberError {
    /// The text does not spell a number.
    #[error("{0:?} is not a number")]
    NotANumber(String),
    /// The decimal exponent is beyond [`MAX_EXPONENT`] (the text, shortened).
    #[error("{0} is out of range: numbers are read up to 1e{MAX_EXPONENT} and down to 1e-{MAX_EXPONENT}")]
    OutOfRange(String),
}

/// The largest decimal exponent, either way, of a number read from text. Working with
/// 1e2000000000 exactly (printing it, asking whether it is whole) means building a number of
/// two billion digits: the provider would hang on one value. Terraform's numbers keep 512
/// bits of precision, about 155 digits, so real values are nowhere near this.
pub const MAX_EXPONENT: i64 = 10_000;

/// The longest number text read: every number within [`MAX_EXPONENT`], written out in full.
const MAX_TEXT: usize = 2 * MAX_EXPONENT as usize + 64;

impl Number {
    /// From a whole number.
    pub fn from_i64(v: i64) -> Number {
        Number::Finite(BigDecimal::from(v))
    }

    /// From an unsigned whole number.
    pub fn from_u64(v: u64) -> Number {
        Number::Finite(BigDecimal::from(v))
    }

    /// From a float; NaN has no cty form and is refused.
    pub fn from_f64(v: f64) -> Option<Number> {
        if v.is_nan() {
            None
        } else if v == f64::INFINITY {
            Some(Number::PosInf)
        } else if v == f64::NEG_INFINITY {
            Some(Number::NegInf)
        } else {
            // `{}` prints the shortest text that reads back as the same f64.
            BigDecimal::from_str(&format!("{v}"))
                .ok()
                .map(Number::Finite)
        }
    }

    /// From a float read off the wire: its exact binary value, so writing it back yields the
    /// same float64 (a float that Terraform sends is exact by construction).
    pub fn from_f64_exact(v: f64) -> Option<Number> {
        if v.is_finite() {
            BigDecimal::try_from(v).ok().map(Number::Finite)
        } else {
            Number::from_f64(v)
        }
    }

    /// The value as i64, when it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Finite(d) if d.is_integer() => d.to_i64(),
            _ => None,
        }
    }

    /// The value as u64, when it is a whole number in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Number::Finite(d) if d.is_integer() => d.to_u64(),
            _ => None,
        }
    }

    /// The nearest f64 (lossy for very precise values).
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Finite(d) => d.to_f64().unwrap_or(f64::NAN),
            Number::PosInf => f64::INFINITY,
            Number::NegInf => f64::NEG_INFINITY,
        }
    }

    /// The f64 with exactly this value, if there is one. 0.01 has none (its nearest float is
    /// 0.01000000000000000020…), so it must travel as decimal text, as go-cty sends it.
    pub fn as_exact_f64(&self) -> Option<f64> {
        match self {
            Number::Finite(d) => {
                let f = d.to_f64()?;
                let back = BigDecimal::try_from(f).ok()?;
                (back == *d).then_some(f)
            }
            Number::PosInf => Some(f64::INFINITY),
            Number::NegInf => Some(f64::NEG_INFINITY),
        }
    }

    /// True for whole numbers.
    pub fn is_integer(&self) -> bool {
        matches!(self, Number::Finite(d) if d.is_integer())
    }
}

impl FromStr for Number {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Number, NumberError> {
        match s.trim() {
            "+Inf" | "Inf" | "inf" | "+inf" => Ok(Number::PosInf),
            "-Inf" | "-inf" => Ok(Number::NegInf),
            t => {
                let shown = || match t.char_indices().nth(24) {
                    Some((cut, _)) => format!("{}…", &t[..cut]),
                    None => t.to_string(),
                };
                if t.len() > MAX_TEXT {
                    return Err(NumberError::OutOfRange(shown()));
                }
                let d = BigDecimal::from_str(t).map_err(|_| NumberError::NotANumber(s.into()))?;
                // value = digits × 10^-scale; the digits are bounded by MAX_TEXT already.
                let (_, scale) = d.as_bigint_and_exponent();
                if scale.unsigned_abs() > MAX_EXPONENT.unsigned_abs() {
                    return Err(NumberError::OutOfRange(shown()));
                }
                Ok(Number::Finite(d))
            }
        }
    }
}

impl PartialEq for Number {
    /// Numeric equality, as cty compares numbers: `1`, `1.0` and `"1"` are equal.
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Finite(a), Number::Finite(b)) => a == b,
            (Number::PosInf, Number::PosInf) | (Number::NegInf, Number::NegInf) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Finite(d) if d.is_zero() => f.write_str("0"),
            Number::Finite(d) => {
                let n = d.normalized();
                // Whole numbers print without an exponent, however large.
                if n.is_integer() {
                    write!(f, "{}", n.with_scale(0))
                } else {
                    write!(f, "{}", n.to_plain_string())
                }
            }
            Number::PosInf => f.write_str("+Inf"),
            Number::NegInf => f.write_str("-Inf"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_not_by_spelling() {
        assert_eq!(
            "1".parse::<Number>().unwrap(),
            Number::from_f64(1.0).unwrap()
        );
        assert_eq!(
            "10.50".parse::<Number>().unwrap(),
            "10.5".parse::<Number>().unwrap()
        );
        assert_ne!(
            "0.1".parse::<Number>().unwrap(),
            Number::from_f64(0.2).unwrap()
        );
    }

    #[test]
    fn numbers_beyond_i64_stay_exact() {
        let big: Number = "123456789012345678901234567890".parse().unwrap();
        assert_eq!(big.to_string(), "123456789012345678901234567890");
        assert_eq!(big.as_i64(), None);
        let precise: Number = "0.1000000000000000000000000001".parse().unwrap();
        assert_eq!(precise.as_exact_f64(), None);
        // A budget threshold of $0.01 has no exact float64: it must not be sent as one, or
        // Terraform sees a planned value that differs from the configuration.
        assert_eq!("0.01".parse::<Number>().unwrap().as_exact_f64(), None);
        assert_eq!("0.5".parse::<Number>().unwrap().as_exact_f64(), Some(0.5));
        let third = Number::from_f64_exact(1.0 / 3.0).unwrap();
        assert_eq!(
            third.as_exact_f64(),
            Some(1.0 / 3.0),
            "floats read off the wire go back as the same float"
        );
        assert_eq!(precise.to_string(), "0.1000000000000000000000000001");
    }

    #[test]
    fn a_number_with_a_huge_exponent_is_refused_at_once_instead_of_hanging_the_provider() {
        let (nines, too_many_nines) = ("9".repeat(10_000), "9".repeat(30_000));
        let cases = [
            ("the largest exponent", "1e10000", true),
            ("the smallest exponent", "1e-10000", true),
            ("written out in full", nines.as_str(), true),
            ("one past the largest", "1e10001", false),
            ("one past the smallest", "1e-10001", false),
            (
                "found by fuzzing",
                "11111111111111111111000000000000000000000000000.00002e200004000000",
                false,
            ),
            ("two billion digits", "1e2000000000", false),
            ("too long to be written out", too_many_nines.as_str(), false),
        ];
        for (name, text, read) in cases {
            let started = std::time::Instant::now();
            let n = text.parse::<Number>();
            assert_eq!(n.is_ok(), read, "{name}: {n:?}");
            if let Ok(n) = n {
                // What the codecs and the rules do with every number.
                let _ = (n.to_string(), n.as_i64(), n.is_integer(), n.as_exact_f64());
            } else {
                let message = n.unwrap_err().to_string();
                assert!(message.contains("out of range"), "{name}: {message}");
                assert!(
                    message.len() < 200,
                    "{name}: the message echoes the whole text"
                );
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{name}: took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn nan_is_refused_and_infinities_survive() {
        assert!(Number::from_f64(f64::NAN).is_none());
        assert_eq!(Number::from_f64(f64::INFINITY), Some(Number::PosInf));
        assert_eq!("-Inf".parse::<Number>().unwrap(), Number::NegInf);
        assert!("one".parse::<Number>().is_err());
    }
}
