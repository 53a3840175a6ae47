//! The real service on port-0 listeners over a per-test PostgreSQL schema, driven with the
//! generated client: InsertBars validates whole batches before storing anything, QueryBars
//! streams the stored series, orders and fills round-trip, and the metrics count it all.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

mod support;

use std::{net::SocketAddr, sync::Arc};

use futures::TryStreamExt;
use levibot_config::ConfigLoader;
use levibot_core::{FillId, Interval};
use levibot_proto::{
    convert::interval_to_wire,
    v1::{self, trade_store_service_client::TradeStoreServiceClient},
};
use levibot_server::{CancellationToken, ServiceListeners};
use levibot_trade_store::{TradeStore, api::MAX_INSERT_BARS, import_csv, testing::TestSchema};
use support::{FTX, csv_rows, klines, sym};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Code, transport::Channel};

struct Server {
    client: TradeStoreServiceClient<Channel>,
    metrics: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), levibot_server::ServeError>>,
    schema: TestSchema,
}

impl Server {
    async fn start() -> Self {
        let schema = TestSchema::create().await.unwrap();
        let config = ConfigLoader::new()
            .set("store.database_url", schema.url())
            .load()
            .unwrap();
        let listeners = ServiceListeners::ephemeral().await.unwrap();
        let grpc = listeners.grpc_addr().unwrap();
        let metrics = listeners.metrics_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(levibot_trade_store::serve(
            Arc::new(config),
            listeners,
            shutdown.clone(),
        ));
        let client = TradeStoreServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap()
            .max_decoding_message_size(64 * 1024 * 1024);
        Self {
            client,
            metrics,
            shutdown,
            task,
            schema,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        self.schema.drop_schema().await.unwrap();
    }

    async fn scrape(&self) -> String {
        let mut stream = tokio::net::TcpStream::connect(self.metrics).await.unwrap();
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }
}

const T0: i64 = 1_640_995_200_000;

fn wire_bar(i: i64, high: &str) -> v1::Bar {
    v1::Bar {
        symbol: "BTCUSDT".into(),
        interval: interval_to_wire(Interval::M1) as i32,
        open_time_ms: T0 + i * 60_000,
        open: "46216.10".into(),
        high: high.into(),
        low: "46100".into(),
        close: "46250.25".into(),
        volume: "12.50".into(),
    }
}

fn query(symbol: &str) -> v1::QueryBarsRequest {
    v1::QueryBarsRequest {
        symbol: symbol.into(),
        interval: interval_to_wire(Interval::M1) as i32,
        range: None,
    }
}

async fn stored(client: &mut TradeStoreServiceClient<Channel>, symbol: &str) -> Vec<v1::Bar> {
    client
        .query_bars(query(symbol))
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_bars_refuses_a_bad_batch_whole_and_stores_a_good_one_once() {
    let mut server = Server::start().await;
    let client = &mut server.client;

    // the middle bar's high is below its low: nothing of the batch is stored
    let bad = vec![
        wire_bar(0, "46300"),
        wire_bar(1, "46000"),
        wire_bar(2, "46300"),
    ];
    let status = client
        .insert_bars(v1::InsertBarsRequest { bars: bad })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("bars[1]"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("nothing was stored"),
        "{}",
        status.message()
    );
    assert!(stored(client, "BTCUSDT").await.is_empty());

    let good: Vec<_> = (0..3).map(|i| wire_bar(i, "46300")).collect();
    let answer = client
        .insert_bars(v1::InsertBarsRequest { bars: good.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.inserted, answer.unchanged), (3, 0));
    let answer = client
        .insert_bars(v1::InsertBarsRequest { bars: good.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.inserted, answer.unchanged), (0, 3));
    // exactly what was sent, decimals as written
    assert_eq!(stored(client, "BTCUSDT").await, good);

    // a repeated key in one batch is ambiguous: refused whole
    let repeated = vec![wire_bar(5, "46300"), wire_bar(5, "46301")];
    let status = client
        .insert_bars(v1::InsertBarsRequest { bars: repeated })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(stored(client, "BTCUSDT").await.len(), 3);

    // an oversized batch is refused with the limit named
    let huge: Vec<_> = (0..=MAX_INSERT_BARS as i64)
        .map(|i| wire_bar(i, "46300"))
        .collect();
    let status = client
        .insert_bars(v1::InsertBarsRequest { bars: huge })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("the limit is 50000"),
        "{}",
        status.message()
    );
    assert_eq!(stored(client, "BTCUSDT").await.len(), 3);

    let metrics = server.scrape().await;
    assert!(
        metrics.contains("levibot_trade_store_rows_total{outcome=\"inserted\",table=\"bars\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("levibot_trade_store_rows_total{outcome=\"unchanged\",table=\"bars\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("levibot_trade_store_rows_rejected_total{table=\"bars\"} 50006"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "levibot_trade_store_operation_duration_seconds_count{operation=\"insert_bars\"}"
        ),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_bars_streams_the_imported_series_in_order() {
    let mut server = Server::start().await;
    // import through the library into the same schema the service serves
    let store = TradeStore::connect(server.schema.url()).await.unwrap();
    import_csv(
        &store,
        &klines(FTX),
        sym("BTC-PERP"),
        Interval::M1,
        |_, _| {},
    )
    .await
    .unwrap();
    store.close().await;

    let bars = stored(&mut server.client, "BTC-PERP").await;
    let as_rows: Vec<_> = bars
        .iter()
        .map(|b| {
            assert_eq!(
                (b.symbol.as_str(), b.interval),
                ("BTC-PERP", v1::Interval::Interval1m as i32)
            );
            (
                b.open_time_ms,
                b.open.clone(),
                b.high.clone(),
                b.low.clone(),
                b.close.clone(),
                b.volume.clone(),
            )
        })
        .collect();
    assert_eq!(as_rows, csv_rows(FTX));

    // a window, half-open
    let mut window = query("BTC-PERP");
    window.range = Some(v1::TimeRange {
        from_ms: 1_640_991_660_000,
        to_ms: 1_640_991_780_000,
    });
    let got: Vec<v1::Bar> = server
        .client
        .query_bars(window)
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got.len(), 2);

    for (request, field) in [
        (query(""), "symbol"),
        (query("BTC/USD"), "symbol"),
        (
            v1::QueryBarsRequest {
                interval: 0,
                ..query("BTCUSDT")
            },
            "interval",
        ),
        (
            v1::QueryBarsRequest {
                range: Some(v1::TimeRange {
                    from_ms: 2,
                    to_ms: 1,
                }),
                ..query("BTCUSDT")
            },
            "range",
        ),
    ] {
        let status = server.client.query_bars(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{}", status.message());
    }
    server.stop().await;
}

fn wire_order(status: v1::OrderStatus, filled: &str, updated_ms: i64) -> v1::Order {
    v1::Order {
        request: Some(v1::OrderRequest {
            client_order_id: "lb-7".into(),
            symbol: "BTCUSDT".into(),
            side: v1::Side::Sell as i32,
            quantity: "0.020".into(),
            limit_price: String::new(),
            time_in_force: 0,
            signal_id: String::new(),
            created_ms: T0,
        }),
        exchange_order_id: String::new(),
        status: status as i32,
        filled_quantity: filled.into(),
        average_price: if filled.is_empty() {
            String::new()
        } else {
            "46216.10".into()
        },
        updated_ms,
        reject_reason: String::new(),
    }
}

fn wire_fill(id: &str, t: i64) -> v1::Fill {
    v1::Fill {
        fill_id: id.into(),
        client_order_id: "lb-7".into(),
        symbol: "BTCUSDT".into(),
        side: v1::Side::Sell as i32,
        price: "46216.10".into(),
        quantity: "0.010".into(),
        fee: "0.0462161".into(),
        fee_asset: "USDT".into(),
        is_maker: false,
        exchange_time_ms: t,
        receive_time_ms: t + 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_and_fills_round_trip_and_fills_are_idempotent() {
    let mut server = Server::start().await;
    let client = &mut server.client;

    let new = wire_order(v1::OrderStatus::New, "", T0);
    let created = |order: v1::Order| v1::RecordOrderRequest { order: Some(order) };
    assert!(
        client
            .record_order(created(new.clone()))
            .await
            .unwrap()
            .into_inner()
            .created
    );
    assert!(
        !client
            .record_order(created(new))
            .await
            .unwrap()
            .into_inner()
            .created
    );
    let filled = wire_order(v1::OrderStatus::Filled, "0.020", T0 + 900);
    assert!(
        !client
            .record_order(created(filled.clone()))
            .await
            .unwrap()
            .into_inner()
            .created
    );

    let orders = client
        .query_orders(v1::QueryOrdersRequest {
            symbol: String::new(),
            range: None,
        })
        .await
        .unwrap()
        .into_inner()
        .orders;
    assert_eq!(orders, vec![filled]);

    let overfilled = wire_order(v1::OrderStatus::Filled, "0.021", T0 + 1_000);
    let status = client.record_order(created(overfilled)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = client
        .record_order(v1::RecordOrderRequest { order: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let (a, b) = (FillId::new().to_string(), FillId::new().to_string());
    let fills = vec![wire_fill(&a, T0 + 100), wire_fill(&b, T0 + 200)];
    let answer = client
        .record_fills(v1::RecordFillsRequest {
            fills: fills.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.inserted, answer.duplicates), (2, 0));
    let answer = client
        .record_fills(v1::RecordFillsRequest {
            fills: fills.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.inserted, answer.duplicates), (0, 2));

    // one bad fill refuses the batch
    let mut bad = wire_fill(&FillId::new().to_string(), T0 + 300);
    bad.quantity = "-1".into();
    let status = client
        .record_fills(v1::RecordFillsRequest {
            fills: vec![wire_fill(&FillId::new().to_string(), T0), bad],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("fills[1]"),
        "{}",
        status.message()
    );

    let got = client
        .query_fills(v1::QueryFillsRequest {
            symbol: "BTCUSDT".into(),
            range: Some(v1::TimeRange {
                from_ms: T0,
                to_ms: T0 + 1_000,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .fills;
    assert_eq!(got, fills);
    server.stop().await;
}

#[tokio::test]
async fn a_store_that_cannot_open_stops_the_start() {
    let config = ConfigLoader::new()
        .set("store.database_url", "postgres://postgres@127.0.0.1:1/none")
        .load()
        .unwrap();
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let err = levibot_trade_store::serve(Arc::new(config), listeners, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot open the store"), "{err}");
}
