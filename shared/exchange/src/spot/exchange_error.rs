use std::time::Duration;

use thiserror::Error;

/// Binance's `-2010 NEW_ORDER_REJECTED`.
pub const CODE_NEW_ORDER_REJECTED: i64 = -2010;
/// Binance's `-2011 CANCEL_REJECTED`.
pub const CODE_CANCEL_REJECTED: i64 = -2011;
/// Binance's `-2013 NO_SUCH_ORDER`.
pub const CODE_NO_SUCH_ORDER: i64 = -2013;
/// Binance's `-1021 INVALID_TIMESTAMP`.
pub const CODE_INVALID_TIMESTAMP: i64 = -1021;
/// Binance's `-1022 INVALID_SIGNATURE`.
pub const CODE_INVALID_SIGNATURE: i64 = -1022;
/// Binance's `-1007 TIMEOUT`: send status unknown, execution status unknown.
pub const CODE_TIMEOUT: i64 = -1007;
/// Binance's `-1006 UNEXPECTED_RESP`: execution status unknown.
pub const CODE_UNEXPECTED_RESPONSE: i64 = -1006;
/// Binance's `-1003 TOO_MANY_REQUESTS`.
pub const CODE_TOO_MANY_REQUESTS: i64 = -1003;
/// Binance's `-1015 TOO_MANY_ORDERS`.
pub const CODE_TOO_MANY_ORDERS: i64 = -1015;
/// Binance's `-1121 BAD_SYMBOL`.
pub const CODE_BAD_SYMBOL: i64 = -1121;

/// The message of `-2010` when the balance does not cover the order.
pub const MSG_INSUFFICIENT_BALANCE: &str = "Account has insufficient balance for requested action.";
/// The message of `-2010` when the client order id is in use by an open order.
pub const MSG_DUPLICATE_ORDER: &str = "Duplicate order sent.";
/// The message of `-2011` for an order that is not open (unknown, filled or cancelled).
pub const MSG_UNKNOWN_ORDER: &str = "Unknown order sent.";
/// The message of `-2013`.
pub const MSG_NO_SUCH_ORDER: &str = "Order does not exist.";

/// A failed spot-exchange call, the same for the paper exchange and Binance.
///
/// The executor decides with three questions:
/// - [`ExchangeError::outcome_unknown`]: the request may have taken effect (timeout, 5xx,
///   `-1007`, a connection lost after sending). Query the order by its client order id before
///   doing anything else; never re-POST blindly (Binance only rejects a duplicate id while the
///   first order is still open).
/// - [`ExchangeError::retry_after`]: 429/418, wait this long (and open the circuit breaker).
/// - [`ExchangeError::is_definitive_rejection`]: the exchange refused and did nothing; the same
///   request will be refused again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExchangeError {
    /// `-2010`: the free balance does not cover the order.
    #[error("insufficient balance (-2010): {message}")]
    InsufficientBalance {
        /// The exchange's message.
        message: String,
    },
    /// `-2010` "Duplicate order sent.": an open order already has this client order id.
    #[error("duplicate client order id (-2010): {message}")]
    DuplicateOrder {
        /// The exchange's message.
        message: String,
    },
    /// `-2010` for any other reason (e.g. "Market is closed.").
    #[error("order rejected (-2010): {message}")]
    OrderRejected {
        /// The exchange's message.
        message: String,
    },
    /// `-2011` "Unknown order sent.": the order to cancel is not open (unknown, filled or
    /// already cancelled).
    #[error("cancel rejected (-2011): {message}")]
    CancelRejected {
        /// The exchange's message.
        message: String,
    },
    /// `-2013` "Order does not exist.".
    #[error("no such order (-2013): {message}")]
    NoSuchOrder {
        /// The exchange's message.
        message: String,
    },
    /// `-1021`: the request's timestamp was outside `recvWindow` or ahead of the server. The
    /// client has re-synchronised its clock offset (`GET /api/v3/time`); the request was not
    /// executed and may be sent again.
    #[error(
        "invalid timestamp (-1021): {message}; server clock offset now {server_time_offset_ms:?} ms"
    )]
    InvalidTimestamp {
        /// The exchange's message.
        message: String,
        /// The offset (server − local, ms) measured after the error; `None` if the resync
        /// failed.
        server_time_offset_ms: Option<i64>,
    },
    /// `-1022`: the signature did not verify (wrong secret, or a payload mangled on the way).
    #[error("invalid signature (-1022): {message}")]
    InvalidSignature {
        /// The exchange's message.
        message: String,
    },
    /// `-1007` TIMEOUT (or `-1006`): the exchange does not know whether the order executed.
    #[error("execution status unknown ({code}): {message}")]
    ExecutionUnknown {
        /// `-1007` or `-1006`.
        code: i64,
        /// The exchange's message.
        message: String,
    },
    /// HTTP 5xx: Binance says not to treat it as a failure; execution status is unknown.
    #[error("server error (HTTP {status}, code {code:?}): {message}")]
    ServerError {
        /// The HTTP status.
        status: u16,
        /// Binance's error code, if the body had one.
        code: Option<i64>,
        /// Binance's message, or the start of the body.
        message: String,
    },
    /// No complete response within the client's per-request timeout: the request may have
    /// been executed.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection could not be opened: nothing was sent.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connection failed after the request may have been sent (e.g. dropped before the
    /// response): the request may have been executed.
    #[error("transport error: {0}")]
    Transport(String),
    /// HTTP 429 (or `-1003`/`-1015`): a rate limit was broken; back off for `retry_after`.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// From the `Retry-After` header (seconds); 60 s when absent.
        retry_after: Duration,
    },
    /// HTTP 418: the IP is banned for continuing after 429s, until `retry_after` has passed.
    #[error("IP banned (HTTP 418), retry after {retry_after:?}")]
    IpBanned {
        /// From the `Retry-After` header (seconds); 60 s when absent.
        retry_after: Duration,
    },
    /// Any other error answer, with Binance's code and message (e.g. `-1121` invalid symbol,
    /// `-1013` filter failure, `-2015` invalid API key).
    #[error("exchange error (HTTP {status}, code {code:?}): {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Binance's error code, if the body had one.
        code: Option<i64>,
        /// Binance's message, or the start of the body.
        message: String,
    },
    /// A success answer that is not what the endpoint returns. For a placement this means the
    /// order was most likely accepted.
    #[error("undecodable response: {0}")]
    Decode(String),
    /// The request could not be built (bad base URL, an order the exchange cannot take); it
    /// was not sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ExchangeError {
    /// Maps an error answer (`status`, and Binance's `{"code","msg"}` when the body had them)
    /// to its variant. 429 and 418 are [`ExchangeError::RateLimited`] and
    /// [`ExchangeError::IpBanned`] with `retry_after`.
    #[must_use]
    pub fn from_binance(
        status: u16,
        code: Option<i64>,
        message: String,
        retry_after: Duration,
    ) -> Self {
        match (status, code) {
            (429, _) => return Self::RateLimited { retry_after },
            (418, _) => return Self::IpBanned { retry_after },
            _ => {}
        }
        match code {
            Some(CODE_NEW_ORDER_REJECTED) => {
                let lower = message.to_ascii_lowercase();
                if lower.contains("insufficient balance") {
                    Self::InsufficientBalance { message }
                } else if lower.contains("duplicate order") {
                    Self::DuplicateOrder { message }
                } else {
                    Self::OrderRejected { message }
                }
            }
            Some(CODE_CANCEL_REJECTED) => Self::CancelRejected { message },
            Some(CODE_NO_SUCH_ORDER) => Self::NoSuchOrder { message },
            Some(CODE_INVALID_TIMESTAMP) => Self::InvalidTimestamp {
                message,
                server_time_offset_ms: None,
            },
            Some(CODE_INVALID_SIGNATURE) => Self::InvalidSignature { message },
            Some(code @ (CODE_TIMEOUT | CODE_UNEXPECTED_RESPONSE)) => {
                Self::ExecutionUnknown { code, message }
            }
            Some(CODE_TOO_MANY_REQUESTS | CODE_TOO_MANY_ORDERS) => {
                Self::RateLimited { retry_after }
            }
            _ if status >= 500 => Self::ServerError {
                status,
                code,
                message,
            },
            _ => Self::Api {
                status,
                code,
                message,
            },
        }
    }

    /// Binance's error code, when the error came with (or stands for) one.
    #[must_use]
    pub const fn code(&self) -> Option<i64> {
        match self {
            Self::InsufficientBalance { .. }
            | Self::DuplicateOrder { .. }
            | Self::OrderRejected { .. } => Some(CODE_NEW_ORDER_REJECTED),
            Self::CancelRejected { .. } => Some(CODE_CANCEL_REJECTED),
            Self::NoSuchOrder { .. } => Some(CODE_NO_SUCH_ORDER),
            Self::InvalidTimestamp { .. } => Some(CODE_INVALID_TIMESTAMP),
            Self::InvalidSignature { .. } => Some(CODE_INVALID_SIGNATURE),
            Self::ExecutionUnknown { code, .. } => Some(*code),
            Self::ServerError { code, .. } | Self::Api { code, .. } => *code,
            Self::Timeout(_)
            | Self::Connect(_)
            | Self::Transport(_)
            | Self::RateLimited { .. }
            | Self::IpBanned { .. }
            | Self::Decode(_)
            | Self::InvalidRequest(_) => None,
        }
    }

    /// Whether the request may have taken effect although it failed: a timeout, a 5xx, `-1007`
    /// /`-1006`, a connection lost after sending, an undecodable success. The caller must query
    /// the order by its client order id before any retry and never re-POST blindly.
    #[must_use]
    pub const fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_)
                | Self::ServerError { .. }
                | Self::ExecutionUnknown { .. }
                | Self::Transport(_)
                | Self::Decode(_)
        )
    }

    /// How long the exchange asked us to wait (429 and 418, from `Retry-After`).
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::IpBanned { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// Whether the exchange definitely did nothing and the same request would be refused
    /// again: insufficient balance, duplicate id, other order rejections, cancel of an order
    /// that is not open, unknown order, bad signature, other 4xx errors, unsendable requests.
    #[must_use]
    pub const fn is_definitive_rejection(&self) -> bool {
        match self {
            Self::InsufficientBalance { .. }
            | Self::DuplicateOrder { .. }
            | Self::OrderRejected { .. }
            | Self::CancelRejected { .. }
            | Self::NoSuchOrder { .. }
            | Self::InvalidSignature { .. }
            | Self::InvalidRequest(_) => true,
            Self::Api { status, .. } => *status < 500,
            _ => false,
        }
    }

    /// Whether the request was not executed and the same request may simply be sent again
    /// (after [`ExchangeError::retry_after`] when there is one): rate limits, a resynced
    /// timestamp, a connection that never opened.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::IpBanned { .. }
                | Self::InvalidTimestamp { .. }
                | Self::Connect(_)
        )
    }

    /// `-2010` insufficient balance, with Binance's message.
    #[must_use]
    pub fn insufficient_balance() -> Self {
        Self::InsufficientBalance {
            message: MSG_INSUFFICIENT_BALANCE.to_owned(),
        }
    }

    /// `-2010` "Duplicate order sent.".
    #[must_use]
    pub fn duplicate_order() -> Self {
        Self::DuplicateOrder {
            message: MSG_DUPLICATE_ORDER.to_owned(),
        }
    }

    /// `-2011` "Unknown order sent.".
    #[must_use]
    pub fn unknown_order() -> Self {
        Self::CancelRejected {
            message: MSG_UNKNOWN_ORDER.to_owned(),
        }
    }

    /// `-2013` "Order does not exist.".
    #[must_use]
    pub fn no_such_order() -> Self {
        Self::NoSuchOrder {
            message: MSG_NO_SUCH_ORDER.to_owned(),
        }
    }

    /// `-1121` "Invalid symbol.".
    #[must_use]
    pub fn invalid_symbol() -> Self {
        Self::Api {
            status: 400,
            code: Some(CODE_BAD_SYMBOL),
            message: "Invalid symbol.".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const WAIT: Duration = Duration::from_secs(7);

    fn map(status: u16, code: i64, msg: &str) -> ExchangeError {
        ExchangeError::from_binance(status, Some(code), msg.to_owned(), WAIT)
    }

    #[rstest]
    #[case(400, -2010, MSG_INSUFFICIENT_BALANCE, ExchangeError::insufficient_balance())]
    #[case(400, -2010, MSG_DUPLICATE_ORDER, ExchangeError::duplicate_order())]
    #[case(400, -2010, "Market is closed.", ExchangeError::OrderRejected { message: "Market is closed.".into() })]
    #[case(400, -2011, MSG_UNKNOWN_ORDER, ExchangeError::unknown_order())]
    #[case(400, -2013, MSG_NO_SUCH_ORDER, ExchangeError::no_such_order())]
    #[case(400, -1022, "bad", ExchangeError::InvalidSignature { message: "bad".into() })]
    #[case(408, -1007, "t", ExchangeError::ExecutionUnknown { code: -1007, message: "t".into() })]
    #[case(429, -1003, "slow", ExchangeError::RateLimited { retry_after: WAIT })]
    #[case(418, -1003, "ban", ExchangeError::IpBanned { retry_after: WAIT })]
    #[case(503, -1001, "x", ExchangeError::ServerError { status: 503, code: Some(-1001), message: "x".into() })]
    #[case(400, -1121, "Invalid symbol.", ExchangeError::invalid_symbol())]
    fn maps_binance_codes(
        #[case] status: u16,
        #[case] code: i64,
        #[case] msg: &str,
        #[case] expected: ExchangeError,
    ) {
        assert_eq!(map(status, code, msg), expected);
    }

    #[test]
    fn timestamp_errors_are_retryable_not_definitive() {
        let err = map(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        );
        assert!(matches!(err, ExchangeError::InvalidTimestamp { .. }));
        assert!(err.is_retryable());
        assert!(!err.is_definitive_rejection());
        assert!(!err.outcome_unknown());
        assert_eq!(err.code(), Some(-1021));
    }

    #[rstest]
    #[case(ExchangeError::Timeout(WAIT), true, false, false)]
    #[case(map(500, -1001, "x"), true, false, false)]
    #[case(map(408, -1007, "x"), true, false, false)]
    #[case(ExchangeError::Transport("eof".into()), true, false, false)]
    #[case(ExchangeError::Connect("refused".into()), false, false, true)]
    #[case(ExchangeError::insufficient_balance(), false, true, false)]
    #[case(ExchangeError::duplicate_order(), false, true, false)]
    #[case(ExchangeError::unknown_order(), false, true, false)]
    #[case(ExchangeError::no_such_order(), false, true, false)]
    #[case(map(400, -1022, "x"), false, true, false)]
    #[case(map(429, -1003, "x"), false, false, true)]
    #[case(map(418, -1003, "x"), false, false, true)]
    fn says_what_the_executor_may_do(
        #[case] err: ExchangeError,
        #[case] unknown: bool,
        #[case] definitive: bool,
        #[case] retryable: bool,
    ) {
        assert_eq!(err.outcome_unknown(), unknown, "{err}");
        assert_eq!(err.is_definitive_rejection(), definitive, "{err}");
        assert_eq!(err.is_retryable(), retryable, "{err}");
        assert_eq!(
            err.retry_after().is_some(),
            matches!(
                err,
                ExchangeError::RateLimited { .. } | ExchangeError::IpBanned { .. }
            )
        );
    }
}
