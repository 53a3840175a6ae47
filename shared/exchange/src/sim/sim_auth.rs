use axum::http::{HeaderMap, StatusCode};

use super::sim_trading::SimTrading;
use crate::spot::binance_spot_client::{API_KEY_HEADER, MAX_RECV_WINDOW};

/// An error answer: HTTP status, Binance code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SimError {
    pub(crate) status: StatusCode,
    pub(crate) code: i64,
    pub(crate) msg: String,
}

impl SimError {
    pub(crate) fn new(status: StatusCode, code: i64, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }

    pub(crate) fn bad_request(code: i64, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    /// `-1102` for a missing or malformed mandatory parameter.
    pub(crate) fn mandatory(name: &str) -> Self {
        Self::bad_request(
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }
}

/// The decoded parameters of a request (query string, then body).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a mandatory `key`, non-empty.
    pub(crate) fn require(&self, key: &str) -> Result<&str, SimError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| SimError::mandatory(key))
    }
}

/// Checks a SIGNED request as Binance does: the API key (`-2014` missing, `-2015` wrong), the
/// HMAC-SHA256 signature over query string + body without the `signature` parameter (`-1022`),
/// then `timestamp` against the server clock `now_ms`: at most 1 s ahead and at most
/// `recvWindow` (default 5000, max 60000) behind (`-1021`). Returns the parameters.
pub(crate) fn authenticate(
    trading: &SimTrading,
    headers: &HeaderMap,
    raw_query: &str,
    body: &str,
    now_ms: i64,
) -> Result<Params, SimError> {
    match headers.get(API_KEY_HEADER).map(|v| v.to_str()) {
        None => {
            return Err(SimError::new(
                StatusCode::UNAUTHORIZED,
                -2014,
                "API-key format invalid.",
            ));
        }
        Some(Ok(key)) if key == trading.api_key() => {}
        Some(_) => {
            return Err(SimError::new(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
    }
    let (query_payload, query_signature) = strip_signature(raw_query);
    let (body_payload, body_signature) = strip_signature(body);
    let Some(signature) = query_signature.or(body_signature) else {
        return Err(SimError::mandatory("signature"));
    };
    let payload = format!("{query_payload}{body_payload}");
    if !trading.key().verify(&payload, &signature) {
        return Err(SimError::bad_request(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    let mut params = decode_params(raw_query);
    params.0.extend(decode_params(body).0);
    let timestamp: i64 = params
        .require("timestamp")?
        .parse()
        .map_err(|_| SimError::mandatory("timestamp"))?;
    let recv_window: i64 = match params.get("recvWindow") {
        None => 5000,
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite() && *w > 0.0)
            .map(|w| w as i64)
            .ok_or_else(|| SimError::mandatory("recvWindow"))?,
    };
    let max_window = i64::try_from(MAX_RECV_WINDOW.as_millis()).unwrap_or(60_000);
    if recv_window > max_window {
        return Err(SimError::bad_request(
            -1131,
            "recvWindow must be less than 60000",
        ));
    }
    if timestamp >= now_ms + 1000 {
        return Err(SimError::bad_request(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if now_ms - timestamp > recv_window {
        return Err(SimError::bad_request(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(params)
}

/// `raw` without its `signature=…` parameter, and that parameter's value.
fn strip_signature(raw: &str) -> (String, Option<String>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut signature = None;
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        match part.strip_prefix("signature=") {
            Some(value) => signature = Some(value.to_owned()),
            None => kept.push(part),
        }
    }
    (kept.join("&"), signature)
}

/// `a=1&b=x%20y` → pairs, percent- and `+`-decoded.
fn decode_params(raw: &str) -> Params {
    Params(
        raw.split('&')
            .filter(|p| !p.is_empty())
            .map(|part| {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect(),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'%' => {
                if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                out.push(b);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_decodes() {
        assert_eq!(
            strip_signature("a=1&signature=ff&b=2"),
            ("a=1&b=2".to_owned(), Some("ff".to_owned()))
        );
        assert_eq!(strip_signature(""), (String::new(), None));
        let params = decode_params("id=x%20y&n=a+b&bad=%zz");
        assert_eq!(params.get("id"), Some("x y"));
        assert_eq!(params.get("n"), Some("a b"));
        assert_eq!(params.get("bad"), Some("%zz"));
        assert!(params.require("missing").is_err());
    }
}
