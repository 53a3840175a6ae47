//! The async executor: records an approved order, sends it through the exchange with the
//! executor core's retry rules (query by client order id after an unknown outcome, never a
//! blind re-POST), tracks it to completion or cancellation, and publishes every state and
//! fill.

use std::time::Duration;

use levibot_bus::{Envelope, EventBus, Topic};
use levibot_core::{ClientOrderId, Fill, OrderRequest, Symbol};
use levibot_exchange::spot::{ExchangeError, OrderRef, OrderReport};
use levibot_proto::v1::{self, RecordOrderRequest};
use levibot_trading::execution::{OrderTracker, QueryOutcome, ResendDecision};
use levibot_trading::{NextAction, RiskApproved, SendOutcome};

use super::TradingDesk;
use super::wire::{OrderState, order_to_wire, status_to_wire};
use crate::events::BackendEvent;

/// Classifies an exchange answer for the executor core.
fn classify(result: &Result<OrderReport, ExchangeError>) -> SendOutcome {
    match result {
        Ok(_) => SendOutcome::Accepted,
        Err(err) if err.outcome_unknown() => SendOutcome::OutcomeUnknown,
        Err(err) => match err.retry_after() {
            Some(wait) if matches!(err, ExchangeError::IpBanned { .. }) => SendOutcome::Banned {
                retry_after_ms: millis(wait),
            },
            Some(wait) => SendOutcome::RateLimited {
                retry_after_ms: millis(wait),
            },
            None if err.is_definitive_rejection() => SendOutcome::Rejected,
            // anything else (-1021 clock skew, an unexpected code): find out before resending
            None => SendOutcome::OutcomeUnknown,
        },
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TradingDesk {
    /// Records `approved` in the trade-store, then sends it. Returns when the exchange has
    /// answered definitively (or the retries ran out: then the order waits for
    /// reconciliation and is never sent again).
    pub async fn execute(
        &self,
        approved: RiskApproved<OrderRequest>,
        bar_received: std::time::Instant,
    ) {
        let order = approved.get().clone();
        let id = order.client_order_id().clone();
        // Recorded before sending: a restarted backend finds it and queries instead of sending.
        let recording = std::time::Instant::now();
        let recorded = self.record(&order, &self.pending_state()).await;
        self.metrics
            .record_order
            .observe(recording.elapsed().as_secs_f64());
        let created = match recorded {
            Ok(created) => created,
            Err(err) => {
                tracing::error!(client_order_id = %id, error = %err, "cannot record the order; not sending it");
                self.metrics
                    .blocked
                    .with_label_values(&["not_recorded"])
                    .inc();
                return;
            }
        };
        self.book()
            .reserve(id.clone(), order.symbol(), order.side(), order.quantity());
        self.track(&order);
        if !created {
            // Recorded by an earlier run (a restart mid-order, a duplicate delivery): it may
            // be on the exchange already. Ask; send only if it is not there.
            tracing::warn!(client_order_id = %id, "order already recorded; querying the exchange before anything else");
            match self
                .exchange
                .query_order(order.symbol(), &OrderRef::ClientId(id.clone()))
                .await
            {
                Ok(report) => {
                    self.apply_report(&order, &report).await;
                    return;
                }
                Err(ExchangeError::NoSuchOrder { .. }) => {}
                Err(err) => {
                    tracing::error!(client_order_id = %id, error = %err, "cannot query a recorded order; leaving it to reconciliation");
                    return;
                }
            }
        }
        let mut attempt = 1_u32;
        loop {
            let result = self.exchange.place_order(&order).await;
            self.observe_weight();
            let outcome = classify(&result);
            let next = self
                .core()
                .executor
                .on_send_outcome(outcome, attempt, self.clock.now());
            match result {
                Ok(report) => {
                    self.metrics
                        .order_latency
                        .observe(bar_received.elapsed().as_secs_f64());
                    self.apply_report(&order, &report).await;
                    return;
                }
                Err(err) if outcome == SendOutcome::Rejected => {
                    tracing::warn!(client_order_id = %id, error = %err, "order rejected by the exchange");
                    self.close_rejected(&order, &err.to_string()).await;
                    return;
                }
                Err(err) => {
                    tracing::warn!(client_order_id = %id, error = %err, attempt, ?next, "order not acknowledged");
                }
            }
            match self.follow(&approved, next, &mut attempt).await {
                Some(()) => {}
                None => return,
            }
        }
    }

    /// Carries out `next` after a failed send; `Some` means send again.
    async fn follow(
        &self,
        approved: &RiskApproved<OrderRequest>,
        mut next: NextAction,
        attempt: &mut u32,
    ) -> Option<()> {
        let order = approved.get();
        let id = order.client_order_id().clone();
        loop {
            *attempt += 1;
            match next {
                NextAction::Done => return None,
                NextAction::GiveUp => {
                    tracing::error!(client_order_id = %id, "giving up on the order; its state is left to reconciliation");
                    self.metrics.orders.with_label_values(&["gave_up"]).inc();
                    return None;
                }
                NextAction::RetryAfter { after_ms } => {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                    let gates = self.gates_now();
                    return match self.core().executor.check_resend(
                        approved,
                        &gates,
                        self.clock.now(),
                    ) {
                        ResendDecision::Go => Some(()),
                        ResendDecision::Wait(ms) => {
                            next = NextAction::RetryAfter { after_ms: ms };
                            continue;
                        }
                        ResendDecision::Blocked(reason) => {
                            self.metrics
                                .blocked
                                .with_label_values(&[reason.as_str()])
                                .inc();
                            tracing::warn!(client_order_id = %id, %reason, "resend blocked");
                            None
                        }
                    };
                }
                NextAction::QueryByClientOrderIdThenDecide { after_ms } => {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                    let found = self
                        .exchange
                        .query_order(order.symbol(), &OrderRef::ClientId(id.clone()))
                        .await;
                    self.observe_weight();
                    let outcome = match &found {
                        Ok(_) => QueryOutcome::Found,
                        Err(ExchangeError::NoSuchOrder { .. }) => QueryOutcome::NotFound,
                        Err(_) => QueryOutcome::Failed,
                    };
                    next =
                        self.core()
                            .executor
                            .on_query_outcome(outcome, *attempt, self.clock.now());
                    if let Ok(report) = found {
                        self.apply_report(order, &report).await;
                        return None;
                    }
                }
            }
        }
    }

    /// Applies an exchange report: new fills (once each), the status, the record.
    pub(crate) async fn apply_report(&self, order: &OrderRequest, report: &OrderReport) {
        let fresh = self.apply_fills(&report.fills);
        for fill in &fresh {
            self.publish_fill(fill).await;
        }
        let status = status_to_wire(report.status);
        let state = OrderState {
            status,
            exchange_order_id: report.order_id.to_string(),
            filled_quantity: report.executed_qty.value().to_string(),
            average_price: report
                .average_price()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            updated: self.clock.now(),
            reject_reason: "",
        };
        let closed = matches!(
            status,
            v1::OrderStatus::Filled
                | v1::OrderStatus::Canceled
                | v1::OrderStatus::Rejected
                | v1::OrderStatus::Expired
        );
        if closed {
            self.untrack(order.client_order_id());
        }
        self.publish_order(order, &state).await;
    }

    async fn close_rejected(&self, order: &OrderRequest, reason: &str) {
        self.untrack(order.client_order_id());
        let state = OrderState {
            status: v1::OrderStatus::Rejected,
            exchange_order_id: String::new(),
            filled_quantity: "0".to_owned(),
            average_price: String::new(),
            updated: self.clock.now(),
            reject_reason: reason,
        };
        self.publish_order(order, &state).await;
    }

    fn pending_state(&self) -> OrderState<'static> {
        OrderState {
            status: v1::OrderStatus::New,
            exchange_order_id: String::new(),
            filled_quantity: "0".to_owned(),
            average_price: String::new(),
            updated: self.clock.now(),
            reject_reason: "",
        }
    }

    pub(super) async fn record(
        &self,
        order: &OrderRequest,
        state: &OrderState<'_>,
    ) -> Result<bool, tonic::Status> {
        let mut store = self.store.clone();
        store
            .record_order(RecordOrderRequest {
                order: Some(order_to_wire(order, state)),
            })
            .await
            .map(|r| r.into_inner().created)
    }

    pub(super) async fn publish_order(&self, order: &OrderRequest, state: &OrderState<'_>) {
        let name = state
            .status
            .as_str_name()
            .trim_start_matches("ORDER_STATUS_")
            .to_owned();
        self.metrics.orders.with_label_values(&[&name]).inc();
        let wire = order_to_wire(order, state);
        let envelope = Envelope::new(&wire, "backend", self.clock.now());
        if let Err(err) = self.bus.publish(Topic::Order, &envelope).await {
            tracing::error!(client_order_id = %order.client_order_id(), error = %err, "cannot publish an order state");
        }
        self.events.publish(BackendEvent::Order {
            symbol: order.symbol().to_string(),
            client_order_id: order.client_order_id().to_string(),
            status: name,
        });
    }

    async fn publish_fill(&self, fill: &Fill) {
        self.metrics.fills.inc();
        let envelope = Envelope::new(&v1::Fill::from(fill), "backend", fill.exchange_time());
        if let Err(err) = self.bus.publish(Topic::Fill, &envelope).await {
            tracing::error!(fill = %fill.fill_id(), error = %err, "cannot publish a fill");
        }
        self.events.publish(BackendEvent::Fill {
            symbol: fill.symbol().to_string(),
            client_order_id: fill.client_order_id().to_string(),
            price: fill.price().value().to_string(),
            quantity: fill.quantity().value().to_string(),
        });
    }

    /// Applies fills to their trackers and the book; returns those not seen before.
    fn apply_fills(&self, fills: &[Fill]) -> Vec<Fill> {
        let mut fresh = Vec::new();
        let mut trackers = self.trackers();
        for fill in fills {
            let applied = match trackers.get_mut(fill.client_order_id()) {
                Some((_, tracker)) => matches!(
                    tracker.apply_fill(fill),
                    levibot_trading::execution::FillOutcome::Applied(_)
                ),
                // an order this run does not track (reconciliation will see it)
                None => false,
            };
            if applied {
                fresh.push(fill.clone());
            }
        }
        drop(trackers);
        let mut book = self.book();
        for fill in &fresh {
            book.apply_fill(fill);
        }
        fresh
    }

    pub(super) fn track(&self, order: &OrderRequest) {
        let tracker = OrderTracker::new(
            order,
            self.clock.now(),
            self.settings.partial_fill_deadline_ms,
        );
        self.trackers()
            .entry(order.client_order_id().clone())
            .or_insert_with(|| (order.clone(), tracker));
    }

    /// Tells `id`'s tracker about fills already applied to the book (recovery).
    pub(super) fn seed_tracker<'a>(
        &self,
        id: &ClientOrderId,
        fills: impl Iterator<Item = &'a Fill>,
    ) {
        if let Some((_, tracker)) = self.trackers().get_mut(id) {
            for fill in fills {
                let _ = tracker.apply_fill(fill);
            }
        }
    }

    fn untrack(&self, id: &ClientOrderId) {
        self.trackers().remove(id);
        self.book().release(id);
    }

    /// Cancels every open order this run tracks (the ESS tripped); returns how many were
    /// asked to cancel. Each final state (cancelled, or filled before the cancel arrived) is
    /// recorded and published as usual.
    pub async fn cancel_all_open(&self) -> usize {
        let open: Vec<(ClientOrderId, OrderRequest)> = self
            .trackers()
            .iter()
            .map(|(id, (request, _))| (id.clone(), request.clone()))
            .collect();
        for (id, request) in &open {
            let symbol = request.symbol();
            let reference = OrderRef::ClientId(id.clone());
            let result = match self.exchange.cancel_order(symbol, &reference).await {
                Err(ExchangeError::CancelRejected { .. }) => {
                    self.exchange.query_order(symbol, &reference).await
                }
                other => other,
            };
            self.observe_weight();
            match result {
                Ok(report) => self.apply_report(request, &report).await,
                Err(err) => {
                    tracing::error!(client_order_id = %id, error = %err, "cannot cancel an open order after an ESS trip; the next refresh retries")
                }
            }
        }
        open.len()
    }

    /// Refreshes `symbol`'s open orders (new fills, status) and cancels those past their
    /// deadline. Called once per bar by the symbol's engine.
    pub async fn refresh_orders(&self, symbol: Symbol) {
        let now = self.clock.now();
        let open: Vec<(ClientOrderId, OrderRequest, bool)> = {
            let mut trackers = self.trackers();
            trackers
                .iter_mut()
                .filter(|(_, (request, _))| request.symbol() == symbol)
                .map(|(id, (request, tracker))| {
                    let cancel = matches!(
                        tracker.check_deadline(now),
                        levibot_trading::execution::TrackerAction::Cancel { .. }
                    );
                    (id.clone(), request.clone(), cancel)
                })
                .collect()
        };
        for (id, request, cancel) in open {
            let result = if cancel {
                tracing::info!(client_order_id = %id, "order past its deadline; cancelling the rest");
                self.exchange
                    .cancel_order(symbol, &OrderRef::ClientId(id.clone()))
                    .await
            } else {
                self.exchange
                    .query_order(symbol, &OrderRef::ClientId(id.clone()))
                    .await
            };
            self.observe_weight();
            match result {
                Ok(report) => self.apply_report(&request, &report).await,
                Err(ExchangeError::CancelRejected { .. }) => {
                    // already closed: read its final state
                    if let Ok(report) = self
                        .exchange
                        .query_order(symbol, &OrderRef::ClientId(id.clone()))
                        .await
                    {
                        self.apply_report(&request, &report).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(client_order_id = %id, error = %err, "cannot refresh an open order")
                }
            }
        }
    }
}
