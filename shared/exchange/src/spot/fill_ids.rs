use levibot_core::{FillId, Symbol, TimestampMs};
use ulid::Ulid;

/// The fill id of Binance trade `trade_id` of `symbol`: the same trade always gets the same id
/// (whether it arrives in a placement's `FULL` answer or from `myTrades`), so consumers can
/// de-duplicate. Bits: 64 of an FNV-1a hash of the symbol, then the 64-bit trade id (Binance
/// trade ids are unique per symbol). The ULID's time part is therefore not a time.
#[must_use]
pub fn binance_fill_id(symbol: Symbol, trade_id: u64) -> FillId {
    let hash = fnv1a64(symbol.as_str().as_bytes());
    FillId::from_ulid(Ulid::from((u128::from(hash) << 64) | u128::from(trade_id)))
}

/// The fill id of paper trade `trade_id` executed at `time`: a ULID with `time` as its time
/// part and the trade id as its random part, so a re-run of the same backtest reproduces its
/// ids and a restarted paper session (later bars) does not collide with an earlier one.
#[must_use]
pub fn paper_fill_id(time: TimestampMs, trade_id: u64) -> FillId {
    let ms = u64::try_from(time.as_i64()).unwrap_or(0);
    FillId::from_ulid(Ulid::from_parts(ms, u128::from(trade_id)))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let btc = Symbol::new("BTCUSDT").unwrap();
        let eth = Symbol::new("ETHUSDT").unwrap();
        assert_eq!(binance_fill_id(btc, 7), binance_fill_id(btc, 7));
        assert_ne!(binance_fill_id(btc, 7), binance_fill_id(btc, 8));
        assert_ne!(binance_fill_id(btc, 7), binance_fill_id(eth, 7));
        let t = TimestampMs::new(1_700_000_000_000);
        assert_eq!(paper_fill_id(t, 1), paper_fill_id(t, 1));
        assert_ne!(paper_fill_id(t, 1), paper_fill_id(t, 2));
        assert_eq!(
            paper_fill_id(t, 1).as_ulid().timestamp_ms(),
            1_700_000_000_000
        );
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    }
}
