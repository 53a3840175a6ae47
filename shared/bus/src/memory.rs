use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use levibot_core::EventId;
use tokio::sync::Notify;

use crate::{
    BusError, BusMetrics, Delivery, Envelope, EventBus, StartFrom, Subscription, Topic,
    consumer::RecentIds, error::check_name, event_bus::check_type,
};

/// How long an entry may stay unacknowledged with its consumer before another may claim it.
pub const DEFAULT_CLAIM_IDLE: Duration = Duration::from_secs(30);
/// How many processed event ids a group remembers.
pub const DEFAULT_DEDUP_WINDOW: usize = 100_000;

#[derive(Debug, Default)]
struct Group {
    /// Sequence number of the next entry to deliver.
    next: u64,
    /// Delivered, not acknowledged: seq → (consumer, delivered at).
    pending: BTreeMap<u64, (String, Instant)>,
    processed: RecentIds,
}

#[derive(Debug)]
struct Stream {
    entries: VecDeque<(u64, Vec<u8>)>,
    next_seq: u64,
    groups: HashMap<String, Group>,
    notify: Arc<Notify>,
}

impl Stream {
    fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 1,
            groups: HashMap::new(),
            notify: Arc::new(Notify::new()),
        }
    }

    fn entry(&self, seq: u64) -> Option<&Vec<u8>> {
        let first = self.entries.front()?.0;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get(index).map(|(_, bytes)| bytes)
    }
}

#[derive(Debug)]
struct State {
    streams: HashMap<Topic, Stream>,
    dead_letters: Vec<(Topic, String, String)>,
}

/// The in-process bus: the same semantics as [`crate::RedisBus`] (consumer groups, pending
/// entries redelivered to a returning consumer, reclaim of entries idle too long, processed
/// ids per group, a dead-letter list, `MAXLEN` trimming) inside one process, for `levibot up`
/// on a machine without Redis. Nothing survives the process.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    state: Arc<Mutex<State>>,
    metrics: BusMetrics,
    claim_idle: Duration,
}

impl InProcessBus {
    /// A new, empty bus.
    pub fn new(metrics: BusMetrics) -> Self {
        Self::with_claim_idle(metrics, DEFAULT_CLAIM_IDLE)
    }

    /// A new bus whose entries may be reclaimed after `claim_idle`.
    pub fn with_claim_idle(metrics: BusMetrics, claim_idle: Duration) -> Self {
        let state = State {
            streams: HashMap::new(),
            dead_letters: Vec::new(),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            metrics,
            claim_idle,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bus's metrics.
    pub fn metrics(&self) -> &BusMetrics {
        &self.metrics
    }

    /// Deliveries parked in the dead-letter list: topic, delivery id, reason.
    pub fn dead_letters(&self) -> Vec<(Topic, String, String)> {
        self.lock().dead_letters.clone()
    }

    fn append(&self, topic: Topic, envelopes: &[Envelope]) -> Result<(), BusError> {
        for envelope in envelopes {
            check_type(topic, envelope)?;
        }
        let mut state = self.lock();
        let stream = state.streams.entry(topic).or_insert_with(Stream::new);
        for envelope in envelopes {
            let seq = stream.next_seq;
            stream.next_seq += 1;
            stream.entries.push_back((seq, envelope.encode()));
        }
        while stream.entries.len() > topic.max_len() {
            stream.entries.pop_front();
        }
        stream.notify.notify_waiters();
        self.metrics
            .published
            .with_label_values(&[topic.name()])
            .inc_by(envelopes.len() as u64);
        Ok(())
    }

    fn with_group<T>(&self, topic: Topic, group: &str, f: impl FnOnce(&mut Group) -> T) -> T {
        let mut state = self.lock();
        let stream = state.streams.entry(topic).or_insert_with(Stream::new);
        f(stream.groups.entry(group.to_owned()).or_default())
    }
}

fn parse_seq(id: &str) -> Option<u64> {
    id.parse().ok()
}

impl EventBus for InProcessBus {
    type Subscription = InProcessSubscription;

    async fn publish(&self, topic: Topic, envelope: &Envelope) -> Result<(), BusError> {
        self.append(topic, std::slice::from_ref(envelope))
    }

    async fn publish_batch(&self, topic: Topic, envelopes: &[Envelope]) -> Result<(), BusError> {
        self.append(topic, envelopes)
    }

    async fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        consumer: &str,
        start: StartFrom,
    ) -> Result<InProcessSubscription, BusError> {
        check_name(group)?;
        check_name(consumer)?;
        let mut state = self.lock();
        let stream = state.streams.entry(topic).or_insert_with(Stream::new);
        let next_seq = stream.next_seq;
        let first = stream.entries.front().map_or(next_seq, |(seq, _)| *seq);
        stream
            .groups
            .entry(group.to_owned())
            .or_insert_with(|| Group {
                next: match start {
                    StartFrom::Beginning => first,
                    StartFrom::New => next_seq,
                },
                ..Group::default()
            });
        Ok(InProcessSubscription {
            bus: self.clone(),
            topic,
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            notify: Arc::clone(&stream.notify),
            read_own_pending: true,
        })
    }

    async fn ack(&self, topic: Topic, group: &str, ids: &[String]) -> Result<(), BusError> {
        self.with_group(topic, group, |g| {
            for seq in ids.iter().filter_map(|id| parse_seq(id)) {
                g.pending.remove(&seq);
            }
        });
        Ok(())
    }

    async fn ack_processed(
        &self,
        topic: Topic,
        group: &str,
        ids: &[String],
        events: &[EventId],
    ) -> Result<(), BusError> {
        self.with_group(topic, group, |g| {
            for seq in ids.iter().filter_map(|id| parse_seq(id)) {
                g.pending.remove(&seq);
            }
            for event in events {
                g.processed.insert(*event, DEFAULT_DEDUP_WINDOW);
            }
        });
        Ok(())
    }

    async fn processed(
        &self,
        topic: Topic,
        group: &str,
        events: &[EventId],
    ) -> Result<Vec<bool>, BusError> {
        Ok(self.with_group(topic, group, |g| {
            events.iter().map(|e| g.processed.contains(e)).collect()
        }))
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), BusError> {
        self.lock()
            .dead_letters
            .push((delivery.topic, delivery.id.clone(), reason.to_owned()));
        self.ack(delivery.topic, group, std::slice::from_ref(&delivery.id))
            .await
    }
}

/// A consumer of [`InProcessBus`].
#[derive(Debug)]
pub struct InProcessSubscription {
    bus: InProcessBus,
    topic: Topic,
    group: String,
    consumer: String,
    notify: Arc<Notify>,
    read_own_pending: bool,
}

impl InProcessSubscription {
    fn take(&mut self, max: usize) -> Vec<Delivery> {
        let claim_idle = self.bus.claim_idle;
        let mut state = self.bus.lock();
        let Some(stream) = state.streams.get_mut(&self.topic) else {
            return Vec::new();
        };
        let Some(mut group) = stream.groups.remove(&self.group) else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        // 1. this consumer's own unacknowledged entries, once after (re)subscribing
        // 2. entries idle too long with any consumer
        let read_own = std::mem::take(&mut self.read_own_pending);
        for (seq, (owner, at)) in group.pending.iter_mut() {
            if out.len() >= max {
                break;
            }
            let mine = read_own && *owner == self.consumer;
            if mine || now.duration_since(*at) >= claim_idle {
                if let Some(bytes) = stream.entry(*seq) {
                    out.push(Delivery {
                        topic: self.topic,
                        id: seq.to_string(),
                        bytes: bytes.clone(),
                        redelivered: true,
                    });
                    seen.insert(*seq);
                }
                owner.clone_from(&self.consumer);
                *at = now;
            }
        }
        // trimmed entries cannot be delivered any more
        group.pending.retain(|seq, _| stream.entry(*seq).is_some());
        // 3. new entries
        let first = stream
            .entries
            .front()
            .map_or(stream.next_seq, |(seq, _)| *seq);
        group.next = group.next.max(first);
        while out.len() < max && group.next < stream.next_seq {
            let seq = group.next;
            group.next += 1;
            if let Some(bytes) = stream.entry(seq) {
                out.push(Delivery {
                    topic: self.topic,
                    id: seq.to_string(),
                    bytes: bytes.clone(),
                    redelivered: false,
                });
                group.pending.insert(seq, (self.consumer.clone(), now));
            }
        }
        let lag = stream.next_seq - group.next;
        let pending = group.pending.len();
        stream.groups.insert(self.group.clone(), group);
        drop(state);
        let labels = [self.topic.name(), self.group.as_str()];
        self.bus
            .metrics
            .consumer_lag
            .with_label_values(&labels)
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
        self.bus
            .metrics
            .pending
            .with_label_values(&labels)
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        out
    }
}

impl Subscription for InProcessSubscription {
    async fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notify = Arc::clone(&self.notify);
            let notified = notify.notified();
            let out = self.take(max);
            if !out.is_empty() {
                return Ok(out);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    fn redeliver_pending(&mut self) {
        self.read_own_pending = true;
    }

    fn topic(&self) -> Topic {
        self.topic
    }

    fn group(&self) -> &str {
        &self.group
    }
}
