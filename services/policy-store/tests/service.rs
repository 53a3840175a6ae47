//! The service over in-memory storage, a scripted portfolio and a manual clock: policy
//! versions, watch streams, audit, bus events and every ESS path, including restarts and a
//! storage outage.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions: a failing set-up must fail the test loudly"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use levibot_bus::{
    Bus, BusMetrics, Envelope, EventBus, InProcessBus, StartFrom, Subscription, Topic,
};
use levibot_config::{LaunchProfile, TradingConfig};
use levibot_core::{Clock, HistoricalClock, TimestampMs};
use levibot_policy_store::conditions::ConditionSource;
use levibot_policy_store::ess::RiskReading;
use levibot_policy_store::metrics::PolicyStoreMetrics;
use levibot_policy_store::storage::MemoryStorage;
use levibot_policy_store::{ApiError, EssState, PolicyDocument, PolicyStore, PolicyStoreParts};
use levibot_proto::v1;
use levibot_server::CancellationToken;
use rust_decimal_macros::dec;
use tokio::task::JoinSet;

const T0: i64 = 1_700_000_000_000;
const COOLDOWN_MS: i64 = 15 * 60_000;

#[derive(Clone)]
struct Portfolio(Arc<Mutex<Result<RiskReading, String>>>);

impl Portfolio {
    fn calm() -> Self {
        Self(Arc::new(Mutex::new(Ok(calm()))))
    }

    fn set(&self, reading: Result<RiskReading, String>) {
        *self.0.lock().unwrap() = reading;
    }
}

#[tonic::async_trait]
impl ConditionSource for Portfolio {
    async fn reading(&self) -> Result<RiskReading, String> {
        self.0.lock().unwrap().clone()
    }
}

fn calm() -> RiskReading {
    RiskReading {
        drawdown_pct: dec!(0.5),
        daily_pnl: dec!(10),
        total_exposure_usd: dec!(100),
        reconciled: true,
    }
}

struct Harness {
    store: PolicyStore,
    storage: MemoryStorage,
    portfolio: Portfolio,
    clock: Arc<HistoricalClock>,
    metrics: PolicyStoreMetrics,
    bus: Bus,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Harness {
    async fn start() -> Self {
        let bus = Bus::InProcess(InProcessBus::new(BusMetrics::unregistered().unwrap()));
        Self::start_on(MemoryStorage::new(), bus, T0).await
    }

    /// A policy-store over `storage`, as after a (re)start; loaded.
    async fn start_on(storage: MemoryStorage, bus: Bus, now: i64) -> Self {
        let shutdown = CancellationToken::new();
        let clock = Arc::new(HistoricalClock::new(TimestampMs::new(now)));
        let portfolio = Portfolio::calm();
        let metrics = PolicyStoreMetrics::unregistered().unwrap();
        let (store, publisher) = PolicyStore::new(PolicyStoreParts {
            storage: Arc::new(storage.clone()),
            conditions: Arc::new(portfolio.clone()),
            clock: Arc::clone(&clock) as Arc<dyn Clock>,
            bus: Some(bus.clone()),
            metrics: metrics.clone(),
            initial: PolicyDocument::from_profile(
                LaunchProfile::Conservative,
                &TradingConfig::default(),
            ),
            trading: TradingConfig::default(),
            shutdown: shutdown.clone(),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(publisher.run());
        store.load().await.unwrap();
        Self {
            store,
            storage,
            portfolio,
            clock,
            metrics,
            bus,
            shutdown,
            tasks,
        }
    }

    fn advance(&self, ms: i64) {
        self.clock.advance_ms(ms).unwrap();
    }

    async fn stop(mut self) -> (MemoryStorage, Bus) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        (self.storage, self.bus)
    }
}

fn actor(role: &str) -> Option<v1::Actor> {
    Some(v1::Actor {
        name: "ops".into(),
        role: role.into(),
    })
}

fn trip(role: &str, trigger: &str) -> v1::TripEssRequest {
    v1::TripEssRequest {
        reason: "drawdown 3.4% over the 3% limit".into(),
        actor: actor(role),
        trigger: trigger.into(),
        detail_json: r#"{"drawdown_pct":"3.4"}"#.into(),
    }
}

fn reset(role: &str) -> v1::ResetEssRequest {
    v1::ResetEssRequest {
        reason: "market calmed down".into(),
        actor: actor(role),
    }
}

fn put_profile(name: &str, role: &str, reason: &str) -> v1::PutPolicyRequest {
    v1::PutPolicyRequest {
        policy: None,
        actor: actor(role),
        reason: reason.into(),
        load_profile: name.into(),
        expected_version: 0,
    }
}

fn code(err: &ApiError) -> tonic::Code {
    err.to_status().code()
}

#[tokio::test]
async fn the_first_start_stores_the_configured_policy_as_version_1() {
    let h = Harness::start().await;
    let policy = h.store.policy().await.unwrap();
    assert_eq!(policy.version, 1);
    assert_eq!(policy.document.profile, "conservative");
    assert_eq!(policy.author.name, "policy-store");
    assert_eq!(h.metrics.policy_version.get(), 1);
    let ess = h.store.ess_status().unwrap();
    assert_eq!(ess.state(), v1::EssState::Armed);
    assert_eq!((ess.seq, ess.policy_version), (0, 1));
    assert_eq!(h.metrics.ess_state.get(), 0);
    // a restart loads it instead of storing another
    let (storage, bus) = h.stop().await;
    let h = Harness::start_on(storage, bus, T0 + 1).await;
    assert_eq!(h.store.policy().await.unwrap().version, 1);
    assert_eq!(h.store.policy_history(0).await.unwrap().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn put_policy_needs_an_admin_and_a_reason_and_is_audited() {
    let h = Harness::start().await;
    for (request, expected) in [
        (
            put_profile("full", "trader", "more"),
            tonic::Code::PermissionDenied,
        ),
        (
            put_profile("full", "system", "more"),
            tonic::Code::PermissionDenied,
        ),
        (
            put_profile("full", "admin", "  "),
            tonic::Code::InvalidArgument,
        ),
        (
            put_profile("yolo", "admin", "more"),
            tonic::Code::InvalidArgument,
        ),
        (
            put_profile("", "admin", "nothing given"),
            tonic::Code::InvalidArgument,
        ),
        (
            v1::PutPolicyRequest {
                actor: None,
                ..put_profile("full", "admin", "more")
            },
            tonic::Code::PermissionDenied,
        ),
        (
            v1::PutPolicyRequest {
                policy: Some(h.store.policy().await.unwrap().to_proto()),
                ..put_profile("full", "admin", "both given")
            },
            tonic::Code::InvalidArgument,
        ),
        (
            v1::PutPolicyRequest {
                expected_version: 7,
                ..put_profile("full", "admin", "stale edit")
            },
            tonic::Code::Aborted,
        ),
    ] {
        let err = h.store.put_policy(request.clone()).await.unwrap_err();
        assert_eq!(code(&err), expected, "{request:?}: {err}");
    }
    assert_eq!(h.store.policy().await.unwrap().version, 1);
    assert_eq!(h.metrics.policy_rejections.get(), 8);

    let stored = h
        .store
        .put_policy(v1::PutPolicyRequest {
            expected_version: 1,
            ..put_profile("Full", "admin", "widen to twenty pairs")
        })
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.document.profile, "full");
    assert_eq!(stored.document.symbols.len(), 20);
    assert_eq!(stored.reason, "widen to twenty pairs");
    assert_eq!(stored.author.name, "ops");
    assert_eq!(h.metrics.policy_version.get(), 2);
    assert_eq!(h.store.ess_status().unwrap().policy_version, 2);

    let audit = h.storage.audit();
    // the initial version, eight refusals, one change
    assert_eq!(audit.len(), 10, "{audit:?}");
    let last = audit.last().unwrap();
    assert_eq!(last.action, "grpc PolicyStoreService/PutPolicy");
    assert_eq!(last.actor, "ops (admin)");
    assert_eq!(last.detail["ok"], true);
    assert_eq!(last.detail["version"], 2);
    assert_eq!(audit[1].detail["ok"], false);
    assert_eq!(audit[1].detail["error"], "permission_denied");
    h.stop().await;
}

#[tokio::test]
async fn an_invalid_policy_is_refused_naming_every_field_and_the_old_one_stays() {
    let h = Harness::start().await;
    let mut wire = h.store.policy().await.unwrap().to_proto();
    wire.max_position_usd = "0".into();
    wire.symbols.push("btc".into());
    wire.min_confidence = 2.0;
    let err = h
        .store
        .put_policy(v1::PutPolicyRequest {
            policy: Some(wire),
            ..put_profile("", "admin", "bad edit")
        })
        .await
        .unwrap_err();
    assert_eq!(code(&err), tonic::Code::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "invalid policy: symbols[3]: unknown symbol format 'btc'; max_position_usd: must be > 0; \
         min_confidence: must be in [0,1]"
    );
    let policy = h.store.policy().await.unwrap();
    assert_eq!(policy.version, 1);
    assert_eq!(policy.document.max_position_usd, dec!(1000));

    // a valid edit of the document goes through, keeping what it did not touch
    let mut wire = policy.to_proto();
    wire.max_position_usd = "750".into();
    wire.ess_flatten_on_trip = true;
    wire.profile = "custom".into();
    let stored = h
        .store
        .put_policy(v1::PutPolicyRequest {
            policy: Some(wire),
            expected_version: 1,
            ..put_profile("", "admin", "smaller positions")
        })
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.document.max_position_usd, dec!(750));
    assert!(h.store.ess_status().unwrap().flatten_on_trip);
    h.stop().await;
}

#[tokio::test]
async fn watchers_get_the_current_version_then_each_new_one_and_end_at_shutdown() {
    let h = Harness::start().await;
    let mut early = Box::pin(h.store.watch_policy());
    assert_eq!(early.next().await.unwrap().version, 1);
    for profile in ["expansion", "full"] {
        h.store
            .put_policy(put_profile(profile, "admin", "step up"))
            .await
            .unwrap();
    }
    let mut late = Box::pin(h.store.watch_policy());
    assert_eq!(late.next().await.unwrap().version, 3);
    assert_eq!(early.next().await.unwrap().version, 2);
    assert_eq!(early.next().await.unwrap().version, 3);
    h.store
        .put_policy(put_profile("conservative", "admin", "calm down"))
        .await
        .unwrap();
    assert_eq!(early.next().await.unwrap().version, 4);
    assert_eq!(late.next().await.unwrap().version, 4);

    // the bus carried every new version
    let mut sub = h
        .bus
        .subscribe(Topic::PolicyUpdated, "test", "t", StartFrom::Beginning)
        .await
        .unwrap();
    let deliveries = sub.next(10, Duration::from_secs(1)).await.unwrap();
    let versions: Vec<u64> = deliveries
        .iter()
        .map(|d| {
            Envelope::decode(&d.bytes)
                .unwrap()
                .message::<v1::RiskPolicy>()
                .unwrap()
                .version
        })
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);

    let shutdown = h.shutdown.clone();
    shutdown.cancel();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), early.next())
            .await
            .unwrap()
            .is_none()
    );
    h.stop().await;
}

#[tokio::test]
async fn the_ess_trips_resets_and_refuses_as_the_rules_say() {
    let h = Harness::start().await;
    // a viewer may not trip; an unknown trigger is bad input
    let err = h.store.trip(trip("viewer", "")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::PermissionDenied);
    let err = h.store.trip(trip("admin", "meteor")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::InvalidArgument);
    let err = h
        .store
        .trip(v1::TripEssRequest {
            reason: String::new(),
            ..trip("admin", "")
        })
        .await
        .unwrap_err();
    assert_eq!(code(&err), tonic::Code::InvalidArgument);
    assert!(h.storage.transitions().is_empty());

    // the portfolio trips on drawdown
    let status = h.store.trip(trip("system", "drawdown")).await.unwrap();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!(status.trigger, "drawdown");
    assert_eq!(status.seq, 1);
    assert_eq!(status.cooldown_until_ms, T0 + COOLDOWN_MS);
    assert_eq!(h.metrics.ess_state.get(), 1);
    // again: nothing new
    let again = h.store.trip(trip("trader", "manual")).await.unwrap();
    assert_eq!((again.seq, again.trigger.as_str()), (1, "drawdown"));
    assert_eq!(h.storage.transitions().len(), 1);

    // resets: admin only, with a reason, after the cooldown
    let err = h.store.reset(reset("trader")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::PermissionDenied);
    let err = h.store.reset(reset("system")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::PermissionDenied);
    let err = h
        .store
        .reset(v1::ResetEssRequest {
            reason: " ".into(),
            ..reset("admin")
        })
        .await
        .unwrap_err();
    assert_eq!(code(&err), tonic::Code::InvalidArgument);
    h.advance(COOLDOWN_MS - 90_000);
    let err = h.store.reset(reset("admin")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::FailedPrecondition);
    assert!(
        err.to_string().contains("a reset may start in 1m 30s"),
        "{err}"
    );
    assert_eq!(h.storage.transitions().len(), 1);

    // after the cooldown, but the drawdown still holds
    h.advance(90_000);
    h.portfolio.set(Ok(RiskReading {
        drawdown_pct: dec!(3.5),
        ..calm()
    }));
    let err = h.store.reset(reset("admin")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::FailedPrecondition);
    assert!(
        err.to_string()
            .starts_with("reset refused: condition still holds: drawdown 3.5% >= limit 3.0%"),
        "{err}"
    );
    let status = h.store.ess_status().unwrap();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!(status.seq, 3);
    assert_eq!(status.trigger, "drawdown");

    // the portfolio cannot be asked: refused, cannot verify
    h.portfolio.set(Err("portfolio unreachable".into()));
    let err = h.store.reset(reset("admin")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::FailedPrecondition);
    assert!(err.to_string().contains("cannot verify"), "{err}");

    // calm: armed
    h.portfolio.set(Ok(calm()));
    let status = h.store.reset(reset("admin")).await.unwrap();
    assert_eq!(status.state(), v1::EssState::Armed);
    assert_eq!(status.seq, 7);
    assert_eq!(status.cooldown_until_ms, 0);
    assert_eq!(h.metrics.ess_state.get(), 0);
    let states: Vec<(EssState, EssState)> = h
        .storage
        .transitions()
        .iter()
        .map(|t| (t.from, t.to))
        .collect();
    use EssState::{Armed, Resetting, Tripped};
    assert_eq!(
        states,
        [
            (Armed, Tripped),
            (Tripped, Resetting),
            (Resetting, Tripped),
            (Tripped, Resetting),
            (Resetting, Tripped),
            (Tripped, Resetting),
            (Resetting, Armed),
        ]
    );
    // nothing to reset when armed
    let err = h.store.reset(reset("admin")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::FailedPrecondition);

    // every transition went on risk.ess, in order
    let mut sub = h
        .bus
        .subscribe(Topic::RiskEss, "test", "t", StartFrom::Beginning)
        .await
        .unwrap();
    let deliveries = sub.next(20, Duration::from_secs(1)).await.unwrap();
    let seqs: Vec<u64> = deliveries
        .iter()
        .map(|d| {
            Envelope::decode(&d.bytes)
                .unwrap()
                .message::<v1::EssStatus>()
                .unwrap()
                .seq
        })
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
    // and every call was audited
    let audited: Vec<String> = h.storage.audit().iter().map(|a| a.action.clone()).collect();
    assert_eq!(
        audited
            .iter()
            .filter(|a| a.ends_with("TripEss") || a.ends_with("ResetEss"))
            .count(),
        13
    );
    h.stop().await;
}

#[tokio::test]
async fn the_ess_state_survives_a_restart_and_a_cut_reset_resumes_tripped() {
    let h = Harness::start().await;
    h.store.trip(trip("admin", "manual")).await.unwrap();
    let (storage, bus) = h.stop().await;

    let h = Harness::start_on(storage, bus, T0 + 5).await;
    let status = h.store.ess_status().unwrap();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!((status.seq, status.trigger.as_str()), (1, "manual"));
    assert_eq!(status.cooldown_until_ms, T0 + COOLDOWN_MS);

    // a reset cut short: RESETTING is the newest stored transition
    let mut cut = h.storage.transitions()[0].clone();
    cut.seq = 2;
    cut.from = EssState::Tripped;
    cut.to = EssState::Resetting;
    cut.trigger = "reset".into();
    cut.detail_json = r#"{"tripped_by":"manual","trip_reason":"x"}"#.into();
    use levibot_policy_store::storage::Storage;
    h.storage.append_transition(&cut).await.unwrap();
    let (storage, bus) = h.stop().await;

    let h = Harness::start_on(storage, bus, T0 + COOLDOWN_MS + 10).await;
    let status = h.store.ess_status().unwrap();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!((status.seq, status.trigger.as_str()), (3, "manual"));
    assert!(
        status.reason.contains("interrupted by a restart"),
        "{}",
        status.reason
    );
    let last = h.storage.transitions().pop().unwrap();
    assert_eq!(
        (last.from, last.to),
        (EssState::Resetting, EssState::Tripped)
    );
    assert!(h.storage.audit().iter().any(|a| a.action == "ess.resume"));
    // and it can be reset from there
    let status = h.store.reset(reset("admin")).await.unwrap();
    assert_eq!(status.state(), v1::EssState::Armed);
    h.stop().await;
}

#[tokio::test]
async fn a_trip_during_a_storage_outage_is_in_force_and_stored_later() {
    let h = Harness::start().await;
    h.storage.set_unavailable(true);
    let status = h.store.trip(trip("system", "exposure")).await.unwrap();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!(h.store.ess_status().unwrap().state(), v1::EssState::Tripped);
    // no reset while the trip is not stored
    h.advance(COOLDOWN_MS);
    h.storage.set_unavailable(false);
    let err = h.store.reset(reset("admin")).await.unwrap_err();
    assert_eq!(code(&err), tonic::Code::Unavailable);
    h.store.store_unstored().await;
    let stored = h.storage.transitions();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].trigger, "exposure");
    assert_eq!(
        h.store.reset(reset("admin")).await.unwrap().state(),
        v1::EssState::Armed
    );
    // storage down: a policy change is refused and nothing changes
    h.storage.set_unavailable(true);
    let err = h
        .store
        .put_policy(put_profile("full", "admin", "x"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), tonic::Code::Unavailable);
    assert_eq!(h.store.policy().await.unwrap().version, 1);
    h.stop().await;
}

#[tokio::test]
async fn a_concurrent_writer_is_detected() {
    let h = Harness::start().await;
    // another policy-store stores version 2 and a trip behind this one's back
    let other = Harness::start_on(h.storage.clone(), h.bus.clone(), T0).await;
    other
        .store
        .put_policy(put_profile("full", "admin", "other writer"))
        .await
        .unwrap();
    other.store.trip(trip("admin", "manual")).await.unwrap();

    let err = h
        .store
        .put_policy(put_profile("expansion", "admin", "mine"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), tonic::Code::Aborted);
    // it took the newer version, and a retry goes through on top of it
    assert_eq!(h.store.policy().await.unwrap().version, 2);
    assert_eq!(
        h.store
            .put_policy(put_profile("expansion", "admin", "mine"))
            .await
            .unwrap()
            .version,
        3
    );
    // a trip on a stale state finds the ESS already tripped: nothing new stored
    let status = h.store.trip(trip("system", "drawdown")).await.unwrap();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!(h.storage.transitions().len(), 1);
    other.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn nothing_is_answered_before_the_state_is_loaded() {
    let storage = MemoryStorage::new();
    storage.set_unavailable(true);
    let shutdown = CancellationToken::new();
    let (store, _publisher) = PolicyStore::new(PolicyStoreParts {
        storage: Arc::new(storage.clone()),
        conditions: Arc::new(Portfolio::calm()),
        clock: Arc::new(HistoricalClock::new(TimestampMs::new(T0))),
        bus: None,
        metrics: PolicyStoreMetrics::unregistered().unwrap(),
        initial: PolicyDocument::from_profile(LaunchProfile::Full, &TradingConfig::default()),
        trading: TradingConfig::default(),
        shutdown: shutdown.clone(),
    });
    assert_eq!(
        code(&store.load().await.unwrap_err()),
        tonic::Code::Unavailable
    );
    assert_eq!(
        code(&store.ess_status().unwrap_err()),
        tonic::Code::Unavailable
    );
    assert_eq!(
        code(&store.trip(trip("admin", "")).await.unwrap_err()),
        tonic::Code::Unavailable
    );
    // the background load gets there once storage answers
    let loader = tokio::spawn(store.clone().load_until_done());
    let mut watch = Box::pin(store.watch_policy());
    storage.set_unavailable(false);
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.version, first.document.profile.as_str()),
        (1, "full")
    );
    assert_eq!(store.ess_status().unwrap().state(), v1::EssState::Armed);
    shutdown.cancel();
    loader.await.unwrap();
}
