//! The semantics every bus must have, run against the Redis bus (real Redis, a key prefix per
//! test) and the in-process bus alike: order, consumer groups, redelivery to a returning
//! consumer, reclaim from a dead one, exactly-once processing across restarts and republishes,
//! dead-lettering of bad input, type checks.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

mod common;

use std::time::Duration;

use common::{envelope, metrics, redis_bus, redis_url, unique_prefix};
use levibot_bus::{
    BusError, Consumer, Envelope, EventBus, InProcessBus, StartFrom, Subscription, Topic,
};
use levibot_core::TimestampMs;
use levibot_proto::v1;

const WAIT: Duration = Duration::from_millis(200);

async fn drain<B: EventBus>(
    consumer: &mut Consumer<B, v1::Trade>,
    want: usize,
    commit: bool,
) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut idle = 0;
    // until `want` arrived, or nothing came three times in a row
    while idle < 3 {
        let batch = consumer.next(1000, WAIT).await.unwrap();
        idle = if batch.is_empty() { idle + 1 } else { 0 };
        seen.extend(batch.iter().map(|r| r.message.trade_id));
        if commit {
            consumer.commit(&batch).await.unwrap();
        }
        if want > 0 && seen.len() >= want {
            break;
        }
    }
    seen
}

async fn order_groups_and_exactly_once<B: EventBus>(bus: B) {
    let events: Vec<Envelope> = (0..300).map(|n| envelope(1, n)).collect();
    bus.publish_batch(Topic::MdTrade, &events[..100])
        .await
        .unwrap();
    for event in &events[100..] {
        bus.publish(Topic::MdTrade, event).await.unwrap();
    }
    let mut a =
        Consumer::<B, v1::Trade>::new(bus.clone(), "g1", "a", StartFrom::Beginning, metrics())
            .await
            .unwrap();
    let got = drain(&mut a, 300, true).await;
    assert_eq!(
        got,
        (0..300).collect::<Vec<i64>>(),
        "in publish order, once each"
    );

    // the same group has nothing more; another group sees everything again
    assert!(a.next(100, WAIT).await.unwrap().is_empty());
    let mut b =
        Consumer::<B, v1::Trade>::new(bus.clone(), "g2", "b", StartFrom::Beginning, metrics())
            .await
            .unwrap();
    assert_eq!(drain(&mut b, 300, true).await.len(), 300);

    // a publisher retrying an event (same id) does not make it processed twice
    bus.publish_batch(Topic::MdTrade, &events[5..10])
        .await
        .unwrap();
    bus.publish(Topic::MdTrade, &envelope(1, 300))
        .await
        .unwrap();
    assert_eq!(drain(&mut a, 1, true).await, [300]);

    // ... even by a restarted consumer that lost its memory
    drop(a);
    bus.publish_batch(Topic::MdTrade, &events[0..3])
        .await
        .unwrap();
    let mut a =
        Consumer::<B, v1::Trade>::new(bus.clone(), "g1", "a2", StartFrom::Beginning, metrics())
            .await
            .unwrap();
    assert!(drain(&mut a, 0, true).await.is_empty());
}

async fn redelivery_and_reclaim<B: EventBus>(bus: B) {
    let events: Vec<Envelope> = (0..10).map(|n| envelope(2, n)).collect();
    bus.publish_batch(Topic::MdTrade, &events).await.unwrap();
    // consumer "a" takes everything and dies without committing
    let mut a =
        Consumer::<B, v1::Trade>::new(bus.clone(), "g", "a", StartFrom::Beginning, metrics())
            .await
            .unwrap();
    assert_eq!(drain(&mut a, 10, false).await.len(), 10);
    drop(a);
    // "a" comes back: its pending entries are redelivered first
    let mut a =
        Consumer::<B, v1::Trade>::new(bus.clone(), "g", "a", StartFrom::Beginning, metrics())
            .await
            .unwrap();
    let again = drain(&mut a, 10, false).await;
    assert_eq!(again, (0..10).collect::<Vec<i64>>());
    drop(a);
    // "a" is gone for good: "b" reclaims its entries once they are idle long enough
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut b =
        Consumer::<B, v1::Trade>::new(bus.clone(), "g", "b", StartFrom::Beginning, metrics())
            .await
            .unwrap();
    let mut claimed = Vec::new();
    for _ in 0..20 {
        let batch = b.next(100, WAIT).await.unwrap();
        claimed.extend(batch.iter().map(|r| r.message.trade_id));
        b.commit(&batch).await.unwrap();
        if claimed.len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    claimed.sort_unstable();
    assert_eq!(claimed, (0..10).collect::<Vec<i64>>());
}

async fn wrong_types_are_refused<B: EventBus>(bus: B) {
    let fill = Envelope::new(&v1::Fill::default(), "test", TimestampMs::new(1));
    let err = bus.publish(Topic::MdTrade, &fill).await.unwrap_err();
    assert!(matches!(err, BusError::WrongType { .. }), "{err}");
    let mut sub = bus
        .subscribe(Topic::MdTrade, "g", "c", StartFrom::Beginning)
        .await
        .unwrap();
    assert!(
        sub.next(10, WAIT).await.unwrap().is_empty(),
        "nothing was published"
    );
    assert!(matches!(
        bus.subscribe(Topic::Fill, "bad group!", "c", StartFrom::New)
            .await,
        Err(BusError::InvalidName(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_order_groups_and_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    order_groups_and_exactly_once(
        redis_bus(&redis_url(), &unique_prefix("order"), dir.path()).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_order_groups_and_exactly_once() {
    order_groups_and_exactly_once(InProcessBus::new(metrics())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_redelivery_and_reclaim() {
    let dir = tempfile::tempdir().unwrap();
    redelivery_and_reclaim(redis_bus(&redis_url(), &unique_prefix("reclaim"), dir.path()).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_redelivery_and_reclaim() {
    redelivery_and_reclaim(InProcessBus::with_claim_idle(
        metrics(),
        Duration::from_millis(300),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_wrong_types_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    wrong_types_are_refused(redis_bus(&redis_url(), &unique_prefix("types"), dir.path()).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_wrong_types_are_refused() {
    wrong_types_are_refused(InProcessBus::new(metrics())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_dead_lettered_counted_and_acked_and_the_consumer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("dlq");
    let bus = redis_bus(&redis_url(), &prefix, dir.path()).await;
    let key = Topic::MdTrade.stream_key(&prefix);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut wrong_type = Envelope::new(&v1::Fill::default(), "evil", TimestampMs::new(1));
    wrong_type.event_type = "levibot.v1.Fill".into();
    let mut bad_payload = envelope(3, 99);
    bad_payload.payload = vec![0x08, 0xff, 0xff];
    let raw: [(&str, Vec<u8>); 4] = [
        ("e", b"not protobuf at all \xff\xfe".to_vec()),
        ("e", wrong_type.encode()),
        ("e", bad_payload.encode()),
        ("x", b"no e field".to_vec()),
    ];
    bus.publish(Topic::MdTrade, &envelope(3, 1)).await.unwrap();
    for (field, bytes) in &raw {
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg(*field)
            .arg(bytes.as_slice())
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    bus.publish(Topic::MdTrade, &envelope(3, 2)).await.unwrap();

    let metrics = metrics();
    let mut consumer =
        Consumer::<_, v1::Trade>::new(bus.clone(), "g", "c", StartFrom::Beginning, metrics.clone())
            .await
            .unwrap();
    assert_eq!(drain(&mut consumer, 2, true).await, [1, 2]);
    let by_reason: Vec<(&str, u64)> = [
        "undecodable_envelope",
        "bad_event_id",
        "unknown_type",
        "undecodable_payload",
    ]
    .iter()
    .map(|r| {
        (
            *r,
            metrics
                .dead_lettered
                .with_label_values(&["md.trade", r])
                .get(),
        )
    })
    .collect();
    let dead: u64 = by_reason.iter().map(|(_, n)| n).sum();
    assert_eq!(dead, 4, "{by_reason:?}");
    assert_eq!(
        metrics
            .dead_lettered
            .with_label_values(&["md.trade", "unknown_type"])
            .get(),
        1
    );
    let parked: Vec<redis::Value> = redis::cmd("XRANGE")
        .arg(format!("{prefix}dead-letter"))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(parked.len(), 4);
    let pending: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(&key)
        .arg("g")
        .arg("-")
        .arg("+")
        .arg(100)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pending.is_empty(), "everything is acked: {pending:?}");
}
