//! A small HTTP/1.1 client: `GET /metrics` of the services and `POST` of webhook alerts
//! (`https://` through rustls with the `ring` provider and the Mozilla roots, like the exchange
//! clients, so it behaves the same in a scratch container).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rustls::{ClientConfig, RootCertStore};

/// Largest response body read (a service's `/metrics` is a few tens of KB).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The client: plain TCP for `http://`, rustls for `https://`.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds a client (no connection is made yet).
pub(crate) fn http_client() -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// An answer: status code and body.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Sends `request` and reads the answer, all within `timeout`. Errors never repeat the URL
/// (a webhook's URL is a secret): callers add what may be shown.
pub(crate) async fn send(
    client: &HttpClient,
    request: http::Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<HttpAnswer, String> {
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| crate::checks::chain(&e))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?
            .to_bytes();
        Ok(HttpAnswer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())))
}

/// `GET url`; the body of a 2xx answer.
pub(crate) async fn get_text(
    client: &HttpClient,
    url: &str,
    timeout: Duration,
) -> Result<String, String> {
    let request = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("bad url: {e}"))?;
    let answer = send(client, request, timeout).await?;
    if (200..300).contains(&answer.status) {
        Ok(answer.body)
    } else {
        Err(format!("answered HTTP {}", answer.status))
    }
}

/// `POST url` with a JSON body; `Ok` on a 2xx answer.
pub(crate) async fn post_json(
    client: &HttpClient,
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| "the webhook url is not a valid url".to_owned())?;
    let answer = send(client, request, timeout).await?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        let mut excerpt: String = answer.body.chars().take(200).collect();
        if excerpt.len() < answer.body.len() {
            excerpt.push('…');
        }
        Err(format!("answered HTTP {}: {excerpt}", answer.status))
    }
}
