//! `RiskApproved<T>`: proof that the risk manager said yes.

use serde::Serialize;

use crate::risk::decision_detail::DecisionDetail;

/// A value (an [`levibot_core::OrderRequest`]) that the risk manager approved, with the
/// detail of that approval.
///
/// Only the risk module can build one: the constructor is private to it, the fields are
/// private, and the type implements neither `Clone` nor `Deserialize`. The executor accepts
/// nothing else, so an order that skipped the risk checks does not compile. Outside the
/// crate, forging one fails:
///
/// ```compile_fail,E0624
/// use levibot_trading::risk::{DecisionDetail, RiskApproved};
///
/// fn forge<T>(order: T, detail: DecisionDetail) -> RiskApproved<T> {
///     RiskApproved::new(order, detail)
/// }
/// ```
///
/// and so does a struct literal:
///
/// ```compile_fail,E0451
/// use levibot_trading::risk::{DecisionDetail, RiskApproved};
///
/// fn forge<T>(inner: T, detail: Box<DecisionDetail>) -> RiskApproved<T> {
///     RiskApproved { inner, detail }
/// }
/// ```
#[derive(Debug, PartialEq, Serialize)]
pub struct RiskApproved<T> {
    inner: T,
    detail: Box<DecisionDetail>,
}

impl<T> RiskApproved<T> {
    /// Wraps an approved value; only the risk manager calls this.
    pub(in crate::risk) fn new(inner: T, detail: DecisionDetail) -> Self {
        Self {
            inner,
            detail: Box::new(detail),
        }
    }

    /// The same approval for a value derived from this one; only the risk module decides
    /// which derivations keep the approval.
    pub(in crate::risk) fn map<U>(self, f: impl FnOnce(T) -> U) -> RiskApproved<U> {
        RiskApproved {
            inner: f(self.inner),
            detail: self.detail,
        }
    }

    /// The approved value.
    #[must_use]
    pub const fn get(&self) -> &T {
        &self.inner
    }

    /// The approved value, giving up the approval.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// How the approval was reached: inputs, factors, caps applied.
    #[must_use]
    pub fn detail(&self) -> &DecisionDetail {
        &self.detail
    }
}
