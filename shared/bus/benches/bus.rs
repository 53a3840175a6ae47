//! Bus benchmarks, printed as `bench <name>: <figure>` lines (`cargo bench -p levibot-bus`,
//! or `make bench`). Uses the Redis at `LEVIBOT_TEST_REDIS_URL` (default 127.0.0.1:6379) under
//! a fresh key prefix, deleted afterwards.
//!
//! - publish throughput to Redis, in batches and as concurrent single publishes (the writer
//!   coalesces them into pipelined transactions);
//! - publish → consume latency at a steady 10,000 events/s, through a consumer group;
//! - disk-buffer append with one fsync per batch;
//! - drain of a filled disk buffer into Redis;
//! - `redis-benchmark` XADD on the same box, for scale.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use levibot_bus::{
    BusMetrics, Envelope, EventBus, RedisBus, RedisBusOptions, StartFrom, Subscription, Topic,
    buffer::{Record, SegmentLog, SegmentLogOptions},
};
use levibot_core::TimestampMs;
use levibot_proto::v1;

fn redis_url() -> String {
    std::env::var("LEVIBOT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn fill(seq: u64, sent_ns: u64) -> Envelope {
    let fill = v1::Fill {
        fill_id: seq.to_string(),
        client_order_id: "bench".into(),
        symbol: "BTCUSDT".into(),
        side: 1,
        price: "61500.10".into(),
        quantity: "0.001".into(),
        fee: "0.0615".into(),
        fee_asset: "USDT".into(),
        exchange_time_ms: i64::try_from(sent_ns).unwrap_or(0),
        ..Default::default()
    };
    Envelope::new(&fill, "bench", TimestampMs::new(0))
}

async fn open(url: &str, prefix: &str, dir: &std::path::Path) -> RedisBus {
    let mut options = RedisBusOptions::new(url, dir);
    options.key_prefix = prefix.to_owned();
    RedisBus::open(options, BusMetrics::unregistered().unwrap())
        .await
        .unwrap()
}

fn rate(n: u64, elapsed: Duration) -> String {
    let per_s = n as f64 / elapsed.as_secs_f64();
    let whole = per_s.round() as u64;
    let s = whole.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn publish_throughput(url: &str, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(url, prefix, dir.path()).await;
    const N: u64 = 200_000;
    let events: Vec<Envelope> = (0..N).map(|s| fill(s, 0)).collect();
    let started = Instant::now();
    for chunk in events.chunks(1_000) {
        bus.publish_batch(Topic::Fill, chunk).await.unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "bench bus.publish_batch_redis: {} events/s ({N} events, batches of 1,000, durable on return)",
        rate(N, elapsed)
    );

    let bus = Arc::new(bus);
    let tasks = 64;
    let per_task = N / tasks;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let bus = Arc::clone(&bus);
        let events: Vec<Envelope> = (0..per_task).map(|s| fill(t * per_task + s, 0)).collect();
        handles.push(tokio::spawn(async move {
            for event in &events {
                bus.publish(Topic::Fill, event).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "bench bus.publish_single_redis: {} events/s ({} single publishes from {tasks} tasks, coalesced by the writer)",
        rate(per_task * tasks, elapsed),
        per_task * tasks
    );
    bus.close().await;
}

async fn latency(url: &str, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(url, prefix, dir.path()).await;
    let mut subscription = bus
        .subscribe(Topic::Fill, "latency", "c", StartFrom::New)
        .await
        .unwrap();
    const RATE: u64 = 10_000;
    const SECONDS: u64 = 5;
    let origin = Instant::now();
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for ms in 0..SECONDS * 1_000 {
                tick.tick().await;
                // 10 events per millisecond, each published on its own
                for i in 0..RATE / 1_000 {
                    let sent = u64::try_from(origin.elapsed().as_nanos()).unwrap();
                    bus.publish(Topic::Fill, &fill(ms * 10 + i, sent))
                        .await
                        .unwrap();
                }
            }
        })
    };
    let mut latencies = Vec::with_capacity((RATE * SECONDS) as usize);
    while latencies.len() < (RATE * SECONDS) as usize {
        let batch = subscription
            .next(1_000, Duration::from_secs(2))
            .await
            .unwrap();
        let now = u64::try_from(origin.elapsed().as_nanos()).unwrap();
        if batch.is_empty() {
            break;
        }
        let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
        for delivery in &batch {
            let envelope = Envelope::decode(&delivery.bytes).unwrap();
            let fill: v1::Fill = envelope.message().unwrap();
            latencies.push(now - u64::try_from(fill.exchange_time_ms).unwrap());
        }
        bus.ack(Topic::Fill, "latency", &ids).await.unwrap();
    }
    publisher.await.unwrap();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)] as f64 / 1_000.0
    };
    println!(
        "bench bus.publish_to_consume_latency: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} events at {RATE}/s, single publishes, XREADGROUP consumer)",
        pct(0.50),
        pct(0.99),
        pct(1.0),
        latencies.len()
    );
    bus.close().await;
}

fn buffer_append() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(
        dir.path(),
        SegmentLogOptions {
            segment_bytes: 64 << 20,
            max_bytes: 4 << 30,
        },
    )
    .unwrap();
    const N: u64 = 1_000_000;
    let bytes = fill(1, 0).encode();
    let batch: Vec<Record> = (0..1_000)
        .map(|_| Record {
            topic: Topic::Fill,
            bytes: bytes.clone(),
        })
        .collect();
    let started = Instant::now();
    for _ in 0..N / 1_000 {
        log.append(&batch).unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "bench bus.buffer_append: {} events/s ({N} events of {} bytes, batches of 1,000, fsync per batch)",
        rate(N, elapsed),
        bytes.len()
    );
}

async fn drain(url: &str, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    const N: u64 = 200_000;
    // fill the buffer through a bus whose Redis is down
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = RedisBusOptions::new(format!("redis://127.0.0.1:{closed}"), dir.path());
    options.key_prefix = prefix.to_owned();
    options.publish_timeout = Duration::from_millis(200);
    let down = RedisBus::open(options, BusMetrics::unregistered().unwrap())
        .await
        .unwrap();
    let events: Vec<Envelope> = (0..N).map(|s| fill(s, 0)).collect();
    for chunk in events.chunks(1_000) {
        down.publish_batch(Topic::Fill, chunk).await.unwrap();
    }
    down.close().await;
    assert_eq!(down.buffered(), N);
    // a restart with Redis up drains it
    let started = Instant::now();
    let up = open(url, prefix, dir.path()).await;
    assert!(up.flush(Duration::from_secs(120)).await);
    let elapsed = started.elapsed();
    println!(
        "bench bus.drain: {} events/s ({N} buffered events replayed to redis on start-up)",
        rate(N, elapsed)
    );
    up.close().await;
}

fn redis_benchmark(url: &str) {
    let Some(port) = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
    else {
        return;
    };
    let run = |pipeline: &str| {
        std::process::Command::new("redis-benchmark")
            .args(["-p", &port.to_string(), "--csv", "-n", "200000", "-P", pipeline, "XADD", "levibot-bench:redis-benchmark", "MAXLEN", "~", "100000", "*", "e", "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"])
            .output()
    };
    for pipeline in ["1", "64"] {
        match run(pipeline) {
            Ok(out) if out.status.success() => {
                // --csv: a header line, then "test","rps","avg_latency_ms",...
                let text = String::from_utf8_lossy(&out.stdout);
                let fields: Vec<String> = text
                    .lines()
                    .nth(1)
                    .unwrap_or("")
                    .split(',')
                    .map(|f| f.trim_matches('"').to_owned())
                    .collect();
                let rps = fields.get(1).map_or("?", String::as_str);
                let p50 = fields.get(4).map_or("?", String::as_str);
                println!(
                    "bench redis-benchmark.xadd_pipeline_{pipeline}: {rps} requests/s, p50 {p50} ms (redis-benchmark XADD, 100-byte field, same box)"
                );
            }
            _ => println!("bench redis-benchmark: not run (redis-benchmark not installed)"),
        }
    }
}

async fn cleanup(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut all = keys;
    all.push("levibot-bench:redis-benchmark".into());
    let _: () = redis::cmd("DEL")
        .arg(all)
        .query_async(&mut conn)
        .await
        .unwrap();
}

fn main() {
    let url = redis_url();
    let prefix = format!("levibot-bench:{}:", ulid::Ulid::new());
    println!(
        "machine: {} cores; redis at {url}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    buffer_append();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        publish_throughput(&url, &prefix).await;
        latency(&url, &prefix).await;
        drain(&url, &prefix).await;
        cleanup(&url, &prefix).await;
    });
    redis_benchmark(&url);
}
