//! Bars in PostgreSQL's binary `COPY` format, so the server stores them without parsing text.
//! NUMERIC values carry their display scale, so `46216.10` and `0.00` keep theirs.
//! Format: <https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>; NUMERIC's
//! binary form is `numeric_send` in PostgreSQL's `src/backend/utils/adt/numeric.c`.

use levibot_core::Bar;
use rust_decimal::Decimal;

/// `PGCOPY\n\xff\r\n\0`, flags 0, no header extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const TRAILER: [u8; 2] = (-1i16).to_be_bytes();
const FIELDS: i16 = 8;
const NUMERIC_POSITIVE: u16 = 0x0000;
const NUMERIC_NEGATIVE: u16 = 0x4000;

/// The rows of `bars` for `COPY bars (symbol, interval, open_time_ms, open, high, low, close,
/// volume) FROM STDIN WITH (FORMAT binary)`.
pub(crate) fn encode_bars(bars: &[Bar]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER.len() + bars.len() * 160 + TRAILER.len());
    buf.extend_from_slice(HEADER);
    for bar in bars {
        buf.extend_from_slice(&FIELDS.to_be_bytes());
        put_text(&mut buf, bar.symbol().as_str());
        put_text(&mut buf, bar.interval().as_str());
        put_len(&mut buf, 8);
        buf.extend_from_slice(&bar.open_time().as_i64().to_be_bytes());
        put_numeric(&mut buf, bar.open().value());
        put_numeric(&mut buf, bar.high().value());
        put_numeric(&mut buf, bar.low().value());
        put_numeric(&mut buf, bar.close().value());
        put_numeric(&mut buf, bar.volume().value());
    }
    buf.extend_from_slice(&TRAILER);
    buf
}

fn put_len(buf: &mut Vec<u8>, len: usize) {
    // fields here are a few dozen bytes at most
    buf.extend_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes());
}

fn put_text(buf: &mut Vec<u8>, text: &str) {
    put_len(buf, text.len());
    buf.extend_from_slice(text.as_bytes());
}

/// A NUMERIC: digit count, weight (in base-10000 digits, of the first digit), sign, display
/// scale, then the base-10000 digits, most significant first, trailing zero digits left out.
pub(super) fn put_numeric(buf: &mut Vec<u8>, value: Decimal) {
    let scale = value.scale();
    let mut mantissa = value.mantissa().unsigned_abs();
    // align the fraction to whole base-10000 digits: at most 10^3 more on a 96-bit mantissa
    let fraction_digits = scale.div_ceil(4);
    mantissa *= 10u128.pow(fraction_digits * 4 - scale);
    let mut digits: Vec<i16> = Vec::with_capacity(8);
    while mantissa > 0 {
        digits.push(i16::try_from(mantissa % 10_000).unwrap_or_default());
        mantissa /= 10_000;
    }
    digits.reverse();
    let fraction = i16::try_from(fraction_digits).unwrap_or_default();
    let count = i16::try_from(digits.len()).unwrap_or_default();
    let weight = if digits.is_empty() {
        0
    } else {
        count - fraction - 1
    };
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let sign = if value.is_sign_negative() && !digits.is_empty() {
        NUMERIC_NEGATIVE
    } else {
        NUMERIC_POSITIVE
    };
    put_len(buf, 8 + 2 * digits.len());
    buf.extend_from_slice(
        &i16::try_from(digits.len())
            .unwrap_or_default()
            .to_be_bytes(),
    );
    buf.extend_from_slice(&weight.to_be_bytes());
    buf.extend_from_slice(&sign.to_be_bytes());
    buf.extend_from_slice(&u16::try_from(scale).unwrap_or_default().to_be_bytes());
    for digit in digits {
        buf.extend_from_slice(&digit.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// (ndigits, weight, sign, dscale, digits) of `text`.
    fn numeric(text: &str) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut buf = Vec::new();
        put_numeric(&mut buf, Decimal::from_str(text).unwrap());
        let word = |i: usize| [buf[i], buf[i + 1]];
        let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        assert_eq!(len, buf.len() - 4);
        let n = i16::from_be_bytes(word(4));
        let digits = (0..n as usize)
            .map(|k| i16::from_be_bytes(word(12 + 2 * k)))
            .collect();
        (
            n,
            i16::from_be_bytes(word(6)),
            u16::from_be_bytes(word(8)),
            u16::from_be_bytes(word(10)),
            digits,
        )
    }

    #[test]
    fn numerics_match_numeric_send() {
        // what PostgreSQL's numeric_send produces for the same literals
        assert_eq!(numeric("46216.10"), (3, 1, 0, 2, vec![4, 6216, 1000]));
        assert_eq!(numeric("0.00"), (0, 0, 0, 2, vec![]));
        assert_eq!(numeric("0"), (0, 0, 0, 0, vec![]));
        assert_eq!(numeric("1"), (1, 0, 0, 0, vec![1]));
        assert_eq!(numeric("10000"), (1, 1, 0, 0, vec![1]));
        assert_eq!(numeric("0.00000001"), (1, -2, 0, 8, vec![1]));
        assert_eq!(numeric("-1.5"), (2, 0, 0x4000, 1, vec![1, 5000]));
        assert_eq!(
            numeric("123456789.123456789"),
            (6, 2, 0, 9, vec![1, 2345, 6789, 1234, 5678, 9000])
        );
    }

    #[test]
    fn a_batch_is_framed() {
        let bytes = encode_bars(&[]);
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&bytes[bytes.len() - 2..], &[0xff, 0xff]);
    }
}
