//! Shared helpers of the bus tests.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::time::Duration;

use levibot_bus::{BusMetrics, Envelope, RedisBus, RedisBusOptions};
use levibot_core::{EventId, TimestampMs};
use levibot_proto::v1;
use ulid::Ulid;

pub(crate) fn redis_url() -> String {
    std::env::var("LEVIBOT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    format!("test:{test}:{}:", Ulid::new())
}

pub(crate) fn metrics() -> BusMetrics {
    BusMetrics::unregistered().unwrap()
}

/// A trade whose symbol names the publisher and whose id is its sequence number.
pub(crate) fn trade(publisher: &str, seq: u64) -> v1::Trade {
    v1::Trade {
        symbol: publisher.to_owned(),
        trade_id: i64::try_from(seq).unwrap(),
        price: "61500.10".to_owned(),
        quantity: "0.001".to_owned(),
        ..Default::default()
    }
}

/// An envelope with an id derived from (publisher, seq): a republished event keeps its id.
pub(crate) fn envelope(publisher: u8, seq: u64) -> Envelope {
    let mut envelope = Envelope::new(
        &trade(&format!("P{publisher}"), seq),
        "test",
        TimestampMs::new(1),
    );
    let random = (u128::from(publisher) << 64) | u128::from(seq);
    envelope.id = EventId::from_ulid(Ulid::from_parts(1_700_000_000_000, random));
    envelope
}

pub(crate) async fn redis_bus(url: &str, prefix: &str, dir: &std::path::Path) -> RedisBus {
    let mut options = RedisBusOptions::new(url, dir);
    options.key_prefix = prefix.to_owned();
    options.publish_timeout = Duration::from_millis(500);
    options.claim_idle = Duration::from_millis(300);
    RedisBus::open(options, metrics()).await.unwrap()
}

/// A fill whose client order id names the publisher and whose fill id is its sequence number.
pub(crate) fn fill_envelope(publisher: u8, seq: u64) -> Envelope {
    let fill = v1::Fill {
        fill_id: seq.to_string(),
        client_order_id: format!("P{publisher}"),
        symbol: "BTCUSDT".to_owned(),
        price: "61500.10".to_owned(),
        quantity: "0.001".to_owned(),
        ..Default::default()
    };
    let mut envelope = Envelope::new(&fill, "test", TimestampMs::new(1));
    let random = (u128::from(publisher) << 64) | u128::from(seq);
    envelope.id = EventId::from_ulid(Ulid::from_parts(1_700_000_000_000, random));
    envelope
}

/// A private redis-server with every write fsynced (`appendfsync always`), so killing it
/// with SIGKILL loses nothing it acknowledged. Killed when dropped.
pub(crate) struct RedisProcess {
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl RedisProcess {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.restart();
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let up = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if up.is_ok() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
