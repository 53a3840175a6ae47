//! The portfolio's books over a replayed session: the simulator replays the FTX 1m file over
//! Binance's protocol, the backend trades it with the EMA cross on the paper exchange, and the
//! portfolio books every fill from the bus. Its cash, realized PnL, fees and positions must equal
//! an independent average-cost recomputation from the fills the trade-store holds, to the last
//! decimal; its equity must be cash plus the position at its mark; and its books must reconcile
//! with the paper exchange's balances.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::time::{Duration, Instant};

use levibot_config::ServiceName;
use levibot_core::{Interval, Symbol};
use levibot_exchange::{
    CsvReplay, ExchangeMetrics,
    sim::{SimConfig, SimData, SimPace, SimServer},
};
use levibot_proto::v1::{
    self, QueryFillsRequest, TimeRange, backend_service_client::BackendServiceClient,
    portfolio_service_client::PortfolioServiceClient,
    trade_store_service_client::TradeStoreServiceClient,
};
use levibot_telemetry::metrics::Registry;
use levibot_tests::{Sandbox, TracedChannel, sample, scrape_metrics};
use rust_decimal::Decimal;

const BARS: usize = 3_000;
const SYMBOL: &str = "BTCUSDT";
const QUOTE: &str = "USDT";
/// `trading.paper_cash_usd` and `portfolio.starting_cash_usd`.
const STARTING_CASH: &str = "10000";
/// `trading.paper_fee_bps`.
const FEE_BPS: &str = "10";

type Store = TradeStoreServiceClient<TracedChannel>;
type Portfolio = PortfolioServiceClient<TracedChannel>;
type Backend = BackendServiceClient<TracedChannel>;

fn ftx_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/klines/ftx_btc-perp_1m_20211231-20220201.csv")
}

fn decimal(what: &str, value: &str) -> Decimal {
    value
        .parse()
        .unwrap_or_else(|err| panic!("{what} {value:?} is not a decimal: {err}"))
}

/// The first `BARS` bars of the FTX file, as the simulator replays them.
async fn replayed_bars() -> Vec<levibot_core::Bar> {
    let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
    let replay = CsvReplay::load(
        &ftx_path(),
        Symbol::new(SYMBOL).unwrap(),
        Interval::M1,
        &metrics,
    )
    .await
    .unwrap();
    replay.bars().iter().take(BARS).copied().collect()
}

/// A fleet trading BTCUSDT with the EMA cross on the paper exchange, fed `bars` by the
/// simulator every `pace`; the portfolio starts from the paper exchange's cash and reconciles
/// every second.
async fn trading_fleet(bars: &[levibot_core::Bar], pace: Duration) -> (Sandbox, SimServer) {
    let mut data = SimData::new();
    data.add_bars(bars.iter().copied());
    let config = SimConfig {
        pace: SimPace::Every(pace),
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = SimServer::start(listener, data, config).unwrap();
    let (ws, rest) = (sim.ws_base_url(), sim.rest_base_url());
    let sandbox = Sandbox::start_with(&[
        ("market_data.enabled", "true"),
        ("market_data.ws_url", &ws),
        ("market_data.rest_url", &rest),
        ("trading.binance_rest_url", &rest),
        ("risk.symbols", SYMBOL),
        ("trading.engines_enabled", "true"),
        ("trading.signal_source", "ema_cross"),
        ("trading.exchange", "paper"),
        ("trading.paper_cash_usd", STARTING_CASH),
        ("trading.paper_fee_bps", FEE_BPS),
        ("portfolio.starting_cash_usd", STARTING_CASH),
        ("portfolio.quote_asset", QUOTE),
        ("portfolio.reconcile_interval_ms", "1000"),
        // the bars are from 2022: a live clock would call every one stale
        ("trading.stale_after_ms", "1000000000000"),
        ("trading.throttle_max_signals", "1000"),
    ])
    .await;
    (sandbox, sim)
}

/// Every stored fill, in the trade-store's order (exchange time, then fill id).
async fn stored_fills(store: &Store) -> Vec<v1::Fill> {
    store
        .clone()
        .query_fills(QueryFillsRequest {
            symbol: String::new(),
            range: Some(TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .fills
}

/// Whether the backend's engine has stepped the bar that opened at `last_open` (the last one
/// replayed).
async fn fed_to_the_end(backend: &Backend, last_open: i64) -> bool {
    let engines = backend
        .clone()
        .list_engines(v1::ListEnginesRequest {})
        .await
        .unwrap()
        .into_inner()
        .engines;
    assert!(engines.len() <= 1, "{engines:?}");
    engines
        .iter()
        .any(|e| e.symbol == SYMBOL && e.last_bar_open_time_ms == last_open)
}

/// The portfolio's books as it reports them.
#[derive(Debug, Clone, PartialEq)]
struct Reported {
    summary: v1::PortfolioSummary,
    positions: Vec<v1::Position>,
    risk: v1::RiskMetrics,
}

async fn reported(portfolio: &Portfolio) -> Reported {
    let mut portfolio = portfolio.clone();
    Reported {
        summary: portfolio
            .get_summary(v1::GetSummaryRequest {})
            .await
            .unwrap()
            .into_inner(),
        positions: portfolio
            .list_positions(v1::ListPositionsRequest {})
            .await
            .unwrap()
            .into_inner()
            .positions,
        risk: portfolio
            .get_risk_metrics(v1::GetRiskMetricsRequest {})
            .await
            .unwrap()
            .into_inner(),
    }
}

/// An average-cost ledger of one symbol, recomputed here from the stored fills.
#[derive(Debug, Default)]
struct Ledger {
    cash: Decimal,
    realized: Decimal,
    fees: Decimal,
    quantity: Decimal,
    average: Decimal,
    buys: usize,
    sells: usize,
}

impl Ledger {
    fn new(cash: Decimal) -> Self {
        Self {
            cash,
            ..Self::default()
        }
    }

    /// Books one fill: buys pay price × qty plus a quote fee from cash and move the average
    /// to the quantity-weighted mean; sells take price × qty less the fee into cash and
    /// realize (price - average) × qty. A fee in the base asset is taken from the quantity and
    /// valued at the fill price.
    fn book(&mut self, fill: &v1::Fill, base: &str) {
        let price = decimal("price", &fill.price);
        let qty = decimal("quantity", &fill.quantity);
        let fee = decimal("fee", &fill.fee);
        let (fee_from_cash, fee_from_base, fee_value) = if fill.fee_asset == QUOTE {
            (fee, Decimal::ZERO, fee)
        } else if fill.fee_asset == base {
            (Decimal::ZERO, fee, fee * price)
        } else {
            panic!("fill {} pays its fee in {}", fill.fill_id, fill.fee_asset)
        };
        self.fees += fee_value;
        match fill.side() {
            v1::Side::Buy => {
                self.buys += 1;
                self.cash = self.cash - price * qty - fee_from_cash;
                let bought = qty - fee_from_base;
                let held = self.quantity + bought;
                self.average = (self.quantity * self.average + bought * price) / held;
                self.quantity = held;
            }
            v1::Side::Sell => {
                self.sells += 1;
                self.cash = self.cash + price * qty - fee_from_cash;
                let sold = qty + fee_from_base;
                assert!(
                    sold <= self.quantity,
                    "fill {} sells {sold} while {} is held (spot is long-only)",
                    fill.fill_id,
                    self.quantity
                );
                self.realized += sold * (price - self.average);
                self.quantity -= sold;
                if self.quantity.is_zero() {
                    self.average = Decimal::ZERO;
                }
            }
            v1::Side::Unspecified => panic!("fill {} has no side", fill.fill_id),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portfolio_pnl_equals_an_independent_recomputation_from_the_stored_fills() {
    let bars = replayed_bars().await;
    assert_eq!(bars.len(), BARS);
    let (sandbox, _sim) = trading_fleet(&bars, Duration::from_millis(2)).await;
    let store = TradeStoreServiceClient::new(sandbox.channel(ServiceName::TradeStore).await);
    let portfolio = PortfolioServiceClient::new(sandbox.channel(ServiceName::Portfolio).await);
    let backend = BackendServiceClient::new(sandbox.channel(ServiceName::Backend).await);

    // The replay takes ~6 s; wait until the engine has stepped the last bar and the stored
    // fills and the portfolio's books have stopped changing (unchanged over two seconds).
    let last_open = bars.last().unwrap().open_time().as_i64();
    let started = Instant::now();
    let (mut fills, mut books) = (Vec::new(), None);
    let mut steady = 0;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(50),
            "fills never settled: {} fills, books {books:#?}",
            fills.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now_fills = stored_fills(&store).await;
        let now_books = match portfolio
            .clone()
            .get_summary(v1::GetSummaryRequest {})
            .await
        {
            Ok(summary) => Some(summary.into_inner()),
            Err(status) if status.code() == tonic::Code::Unavailable => None,
            Err(status) => panic!("GetSummary: {status}"),
        };
        let unchanged = fed_to_the_end(&backend, last_open).await
            && !now_fills.is_empty()
            && now_fills == fills
            && now_books.as_ref().map(|b| (&b.cash, &b.fees))
                == books
                    .as_ref()
                    .map(|b: &v1::PortfolioSummary| (&b.cash, &b.fees));
        (fills, books) = (now_fills, now_books);
        steady = if unchanged { steady + 1 } else { 0 };
        if steady >= 2 {
            break;
        }
    }
    // A reconciliation after the books settled: its result is what the summary reports.
    let reconciliation = portfolio
        .clone()
        .reconcile(v1::ReconcileRequest {})
        .await
        .unwrap()
        .into_inner();
    let Reported {
        summary,
        positions,
        risk,
    } = reported(&portfolio).await;
    assert_eq!(
        stored_fills(&store).await,
        fills,
        "fills changed while reading"
    );

    // Recompute from the stored fills.
    let base = SYMBOL.strip_suffix(QUOTE).unwrap();
    let fee_rate = decimal("fee bps", FEE_BPS) / Decimal::from(10_000);
    let mut ledger = Ledger::new(decimal("starting cash", STARTING_CASH));
    for fill in &fills {
        assert_eq!(fill.symbol, SYMBOL, "{fill:?}");
        // the paper exchange charges fee_bps of the notional, in the quote asset, unrounded
        assert_eq!(fill.fee_asset, QUOTE, "{fill:?}");
        assert_eq!(
            decimal("fee", &fill.fee),
            decimal("price", &fill.price) * decimal("quantity", &fill.quantity) * fee_rate,
            "{fill:?}"
        );
        ledger.book(fill, base);
    }
    assert!(
        ledger.buys > 0 && ledger.sells > 0,
        "no round trip over {BARS} bars: {} buys, {} sells",
        ledger.buys,
        ledger.sells
    );
    assert!(!ledger.realized.is_zero(), "{ledger:?}");

    // The portfolio booked exactly these fills, each once.
    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::Portfolio)).await;
    assert_eq!(
        sample(&metrics, "levibot_portfolio_fills_applied_total"),
        Some(fills.len() as f64),
        "fills booked by the portfolio vs stored"
    );

    // Equal as decimals, to the last digit.
    let reported_decimal = |what: &str, value: &str| decimal(what, value);
    assert_eq!(summary.quote_asset, QUOTE);
    assert_eq!(reported_decimal("cash", &summary.cash), ledger.cash, "cash");
    assert_eq!(
        reported_decimal("realized", &summary.realized_pnl),
        ledger.realized,
        "realized PnL"
    );
    assert_eq!(reported_decimal("fees", &summary.fees), ledger.fees, "fees");
    let (mark, unrealized) = if ledger.quantity.is_zero() {
        assert!(positions.is_empty(), "flat, yet {positions:?}");
        (None, Decimal::ZERO)
    } else {
        assert_eq!(positions.len(), 1, "{positions:?}");
        let position = &positions[0];
        assert_eq!(position.symbol, SYMBOL);
        assert_eq!(
            decimal("quantity", &position.quantity),
            ledger.quantity,
            "position quantity"
        );
        assert_eq!(
            decimal("average price", &position.average_price),
            ledger.average,
            "average price"
        );
        assert_eq!(
            decimal("position realized", &position.realized_pnl),
            ledger.realized,
            "the position's realized PnL (one symbol)"
        );
        let mark = decimal("mark", &position.mark_price);
        let unrealized = ledger.quantity * (mark - ledger.average);
        assert_eq!(
            decimal("unrealized", &position.unrealized_pnl),
            unrealized,
            "the position's unrealized PnL"
        );
        (Some(mark), unrealized)
    };
    assert_eq!(
        reported_decimal("unrealized", &summary.unrealized_pnl),
        unrealized,
        "unrealized PnL"
    );
    // equity = cash + quantity × the mark the portfolio used
    let equity = ledger.cash + mark.map_or(Decimal::ZERO, |m| ledger.quantity * m);
    assert_eq!(
        reported_decimal("equity", &summary.equity),
        equity,
        "equity"
    );
    assert_eq!(reported_decimal("risk equity", &risk.equity), equity);
    // and the books' identity: equity = starting cash + realized - fees + unrealized
    assert_eq!(
        equity,
        decimal("starting cash", STARTING_CASH) + ledger.realized - ledger.fees + unrealized
    );
    // the mark is the close of the last replayed bar: the feed has ended
    if let Some(mark) = mark {
        assert_eq!(mark, bars.last().unwrap().close().value(), "mark");
    }

    // The books match the paper exchange's balances.
    assert!(
        reconciliation.ok && reconciliation.error.is_empty(),
        "reconciliation failed: {reconciliation:#?}"
    );
    assert!(summary.reconciled, "{summary:#?}");
    assert!(risk.reconciled, "{risk:#?}");
    // Not asserted: that no periodic reconciliation during the replay confirmed a mismatch.
    // At this replay's pace (a bar every 2 ms) an order or fill in flight at both comparisons
    // 2 s apart was once confirmed as a mismatch (CI, 2 items); a known issue, see the
    // portfolio's reconcile confirmation, to be fixed by comparing the same items twice.
    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::Portfolio)).await;
    let matched = sample(
        &metrics,
        "levibot_portfolio_reconciliation_runs_total{outcome=\"matched\"}",
    )
    .unwrap_or(0.0);
    assert!(matched >= 2.0, "{metrics}");
    // and no fill was an anomaly (an oversell, a fee in a third asset)
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("levibot_portfolio_anomalies_total{") && !l.ends_with(" 0")),
        "{metrics}"
    );
    eprintln!(
        "portfolio e2e: {} fills ({} buys, {} sells), cash {}, realized {}, fees {}, \
         quantity {}, equity {equity}",
        fills.len(),
        ledger.buys,
        ledger.sells,
        ledger.cash,
        ledger.realized,
        ledger.fees,
        ledger.quantity
    );
    sandbox.shutdown().await.unwrap();
}
