//! A small plain-HTTP/1.1 client (hyper) with a timeout on every call and a
//! limit on the body it reads; used by the HTTP checker and downstream.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Upper bound on a response body read (checker answers are tiny).
const BODY_BYTES_MAX: usize = 64 * 1024;

/// A response: status code and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// A pooled HTTP client whose every request is bounded by `timeout`.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client giving each request (connect, send, read body) `timeout` in all.
    pub fn new(timeout: Duration) -> HttpClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        HttpClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<Answer, String> {
        let request = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad request to {url}: {e}"))?;
        self.send(url, request).await
    }

    /// `POST url` with a JSON body, an `Idempotency-Key` header and, when
    /// the sender holds a shard fence, its epoch as `Reckon-Fence`.
    pub async fn post_json(
        &self,
        url: &str,
        idempotency_key: &str,
        fence: Option<crate::ledger::ShardEpoch>,
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let mut request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", idempotency_key);
        if let Some(epoch) = fence {
            request = request.header("reckon-fence", epoch.to_string());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad request to {url}: {e}"))?;
        self.send(url, request).await
    }

    async fn send(
        &self,
        url: &str,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<Answer, String> {
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| {
                    format!("cannot reach {url}: {}", crate::error_chain::chain(&e))
                })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), BODY_BYTES_MAX)
                .collect()
                .await
                .map_err(|e| format!("cannot read the answer of {url}: {e}"))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer from {url} within {}",
                humantime::format_duration(self.timeout)
            )),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The error an answer body states, if any: a JSON object with a non-null
/// `error` member, or a body that is not a JSON object at all.
pub fn body_error(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => match map.get("error") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(format!("answer says error: {s}")),
            Some(other) => Some(format!("answer says error: {other}")),
        },
        _ => Some(format!(
            "answer is not a JSON object: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_keys_for_urls() {
        assert_eq!(encode_component("ORD-1_a.b~"), "ORD-1_a.b~");
        assert_eq!(encode_component("a b&c/订"), "a%20b%26c%2F%E8%AE%A2");
    }

    #[test]
    fn error_bodies_are_recognised() {
        assert_eq!(body_error(br#"{"outcome":"committed"}"#), None);
        assert!(
            body_error(br#"{"error":"db down"}"#)
                .unwrap()
                .contains("db down")
        );
        assert!(body_error(b"OK").is_some());
        assert_eq!(body_error(br#"{"error":null}"#), None);
    }
}
