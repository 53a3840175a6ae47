use levibot_core::{Interval, Symbol, TimestampMs};

/// What is stored for one (symbol, interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesSummary {
    /// The symbol.
    pub symbol: Symbol,
    /// The interval.
    pub interval: Interval,
    /// Open time of the first bar.
    pub first: TimestampMs,
    /// Open time of the last bar.
    pub last: TimestampMs,
    /// How many bars.
    pub count: u64,
}

/// A run of consecutive missing bars: `[from, to)` in open times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Open time of the first missing bar.
    pub from: TimestampMs,
    /// Open time of the bar after the last missing one (exclusive end).
    pub to: TimestampMs,
    /// How many bars are missing.
    pub missing: u64,
}

/// Binance's weekly bars open on Mondays; the first Monday after the epoch is 1970-01-05.
const MONDAY_OFFSET_MS: i64 = 4 * 86_400_000;

/// The first bar open time of `interval` at or after `t`.
pub(crate) fn align_up(t: i64, interval: Interval) -> i64 {
    let duration = i128::from(interval.duration_ms());
    let offset = if interval == Interval::W1 {
        i128::from(MONDAY_OFFSET_MS)
    } else {
        0
    };
    let shifted = i128::from(t) - offset;
    let aligned = shifted.div_euclid(duration) * duration
        + if shifted.rem_euclid(duration) == 0 {
            0
        } else {
            duration
        };
    i64::try_from(aligned + offset).unwrap_or(i64::MAX)
}

/// What a backend found in `[from, to)`: the first and last stored open times (`None` when
/// nothing is stored), and every pair of consecutive stored open times further apart than one
/// interval, in time order.
#[derive(Debug, Default)]
pub(crate) struct GapScan {
    pub(crate) present: Option<(i64, i64)>,
    pub(crate) jumps: Vec<(i64, i64)>,
}

/// The missing bars of `interval` in `[from, to)` given what a backend found.
pub(crate) fn gaps_in(interval: Interval, from: i64, to: i64, scan: &GapScan) -> Vec<Gap> {
    let duration = interval.duration_ms();
    let start = align_up(from, interval);
    let end = align_up(to, interval);
    let gap = |from: i64, to: i64| Gap {
        from: TimestampMs::new(from),
        to: TimestampMs::new(to),
        missing: u64::try_from((i128::from(to) - i128::from(from)) / i128::from(duration))
            .unwrap_or(u64::MAX),
    };
    let mut gaps = Vec::new();
    let Some((first, last)) = scan.present else {
        if start < end {
            gaps.push(gap(start, end));
        }
        return gaps;
    };
    if start < first {
        gaps.push(gap(start, first));
    }
    for &(before, after) in &scan.jumps {
        gaps.push(gap(before.saturating_add(duration), after));
    }
    let after_last = last.saturating_add(duration);
    if after_last < end {
        gaps.push(gap(after_last, end));
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    #[test]
    fn align_up_rounds_to_the_next_open_time() {
        assert_eq!(align_up(0, Interval::M1), 0);
        assert_eq!(align_up(1, Interval::M1), M);
        assert_eq!(align_up(-1, Interval::M1), 0);
        assert_eq!(align_up(M, Interval::M1), M);
        // 2024-01-01 is a Monday
        assert_eq!(align_up(1_704_067_200_000, Interval::W1), 1_704_067_200_000);
        assert_eq!(
            align_up(1_704_067_200_001, Interval::W1),
            1_704_067_200_000 + 604_800_000
        );
    }

    #[test]
    fn gaps_cover_edges_and_holes() {
        let scan = GapScan {
            present: Some((2 * M, 9 * M)),
            jumps: vec![(3 * M, 6 * M)],
        };
        let gaps = gaps_in(Interval::M1, 0, 12 * M, &scan);
        let shape: Vec<(i64, i64, u64)> = gaps
            .iter()
            .map(|g| (g.from.as_i64(), g.to.as_i64(), g.missing))
            .collect();
        assert_eq!(
            shape,
            vec![(0, 2 * M, 2), (4 * M, 6 * M, 2), (10 * M, 12 * M, 2)]
        );
    }

    #[test]
    fn an_empty_range_is_one_gap_and_a_full_one_none() {
        let gaps = gaps_in(Interval::M1, 30_000, 3 * M, &GapScan::default());
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].from.as_i64(), gaps[0].missing), (M, 2));
        let full = GapScan {
            present: Some((0, 2 * M)),
            jumps: vec![],
        };
        assert!(gaps_in(Interval::M1, 0, 3 * M, &full).is_empty());
        assert!(gaps_in(Interval::M1, 0, 2 * M + 1, &full).is_empty());
    }
}
