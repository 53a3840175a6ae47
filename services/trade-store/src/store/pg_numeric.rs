//! Reading PostgreSQL NUMERIC in its binary form (`numeric_send`), exactly: the value and its
//! display scale, so `46216.10` stays `46216.10` and `0.00` stays `0.00`. sqlx's own
//! `rust_decimal` decoding drops the scale of zeros and does a checked power per digit; casting
//! to `::text` on the server and parsing it back costs a text conversion on both ends. Decoding
//! the binary form ourselves is both exact and the cheapest.

use rust_decimal::Decimal;
use sqlx::{
    Decode, Postgres, Type,
    error::BoxDynError,
    postgres::{PgTypeInfo, PgValueFormat, PgValueRef},
};

const NUMERIC_POSITIVE: u16 = 0x0000;
const NUMERIC_NEGATIVE: u16 = 0x4000;
/// Largest scale a [`Decimal`] holds.
const MAX_SCALE: i32 = 28;

/// A NUMERIC column read as an exact [`Decimal`], scale kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExactNumeric(pub(crate) Decimal);

impl Type<Postgres> for ExactNumeric {
    fn type_info() -> PgTypeInfo {
        <Decimal as Type<Postgres>>::type_info()
    }
}

impl Decode<'_, Postgres> for ExactNumeric {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => Ok(Self(decode_numeric(value.as_bytes()?)?)),
            // text comes back as written by numeric_out, which keeps the scale too
            PgValueFormat::Text => Ok(Self(value.as_str()?.parse()?)),
        }
    }
}

fn word(bytes: &[u8], index: usize) -> Result<[u8; 2], String> {
    bytes
        .get(2 * index..2 * index + 2)
        .and_then(|w| <[u8; 2]>::try_from(w).ok())
        .ok_or_else(|| format!("binary NUMERIC of {} bytes is truncated", bytes.len()))
}

/// The value of a binary NUMERIC: `ndigits`, `weight`, `sign`, `dscale` (each 16 bits), then
/// `ndigits` base-10000 digits, most significant first; the value is
/// `sum(digit[i] * 10000^(weight - i))`, shown with `dscale` decimals.
pub(crate) fn decode_numeric(bytes: &[u8]) -> Result<Decimal, String> {
    let ndigits = usize::from(u16::from_be_bytes(word(bytes, 0)?));
    let weight = i32::from(i16::from_be_bytes(word(bytes, 1)?));
    let sign = u16::from_be_bytes(word(bytes, 2)?);
    let scale = i32::from(u16::from_be_bytes(word(bytes, 3)?));
    if sign != NUMERIC_POSITIVE && sign != NUMERIC_NEGATIVE {
        return Err("NaN and infinite NUMERICs have no decimal value".to_owned());
    }
    if scale > MAX_SCALE {
        return Err(format!(
            "a NUMERIC with {scale} decimals does not fit a decimal (28 at most)"
        ));
    }
    let overflow = || "a NUMERIC too large for a decimal".to_owned();
    let mut mantissa: i128 = 0;
    for index in 0..ndigits {
        let digit = i128::from(i16::from_be_bytes(word(bytes, 4 + index)?));
        mantissa = mantissa
            .checked_mul(10_000)
            .and_then(|m| m.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    if mantissa != 0 {
        // the digits stand for mantissa * 10^(4 * (weight - ndigits + 1)); rescale to `scale`
        let ndigits = i32::try_from(ndigits).map_err(|_| overflow())?;
        let exponent = 4 * (weight - ndigits + 1) + scale;
        let power = 10_i128
            .checked_pow(exponent.unsigned_abs())
            .ok_or_else(overflow)?;
        if exponent >= 0 {
            mantissa = mantissa.checked_mul(power).ok_or_else(overflow)?;
        } else if mantissa % power == 0 {
            mantissa /= power;
        } else {
            return Err(format!(
                "a NUMERIC with more digits than its display scale {scale}"
            ));
        }
    }
    if sign == NUMERIC_NEGATIVE {
        mantissa = -mantissa;
    }
    let scale = u32::try_from(scale).map_err(|_| overflow())?;
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| overflow())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::store::pg_binary_copy::put_numeric;

    fn send(text: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        put_numeric(&mut buf, Decimal::from_str(text).unwrap());
        buf.split_off(4) // the length prefix of the COPY field
    }

    #[test]
    fn numerics_decode_exactly_with_their_scale() {
        for text in [
            "46216.10",
            "0.00",
            "0",
            "1",
            "10000",
            "10000.0000",
            "0.00000001",
            "-1.5",
            "-0.0001",
            "123456789.123456789",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "1.0000000000000000000000000000",
        ] {
            let decoded = decode_numeric(&send(text)).unwrap();
            assert_eq!(decoded.to_string(), text);
        }
    }

    #[test]
    fn what_postgres_sends_decodes() {
        // numeric_send of 46216.10: ndigits 3, weight 1, sign +, dscale 2, 4 6216 1000
        let bytes = [0, 3, 0, 1, 0, 0, 0, 2, 0, 4, 0x18, 0x48, 0x03, 0xe8];
        assert_eq!(decode_numeric(&bytes).unwrap().to_string(), "46216.10");
        // 0.00 has no digits at all
        assert_eq!(
            decode_numeric(&[0, 0, 0, 0, 0, 0, 0, 2])
                .unwrap()
                .to_string(),
            "0.00"
        );
    }

    #[test]
    fn what_a_decimal_cannot_hold_is_refused() {
        let nan = [0, 0, 0, 0, 0xc0, 0, 0, 0];
        assert!(decode_numeric(&nan).is_err());
        let scale_29 = [0, 1, 0xff, 0xf8, 0, 0, 0, 29, 0, 1];
        assert!(decode_numeric(&scale_29).is_err());
        // 10^40: too large
        let huge = [0, 1, 0, 10, 0, 0, 0, 0, 0, 1];
        assert!(decode_numeric(&huge).is_err());
        assert!(decode_numeric(&[0, 1, 0, 0]).is_err());
        assert!(decode_numeric(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    }
}
