//! A small HTTP/1.1 client for tests against a real server on 127.0.0.1,
//! keeping the console's session cookie like a browser would.

use std::collections::BTreeMap;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Resp {
    /// The `Location` header of a redirect.
    pub fn location(&self) -> String {
        self.headers
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_string()
    }
}

/// A browser-like client: follows no redirects, keeps cookies.
pub struct Browser {
    pub base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    pub cookies: BTreeMap<String, String>,
    pub bearer: Option<String>,
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&enc(k));
        out.push('=');
        out.push_str(&enc(v));
    }
    out
}

/// Percent-encodes a form value or query parameter.
pub fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            cookies: BTreeMap::new(),
            bearer: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, Some(form_encode(form))).await
    }

    pub async fn send(&mut self, method: &str, path: &str, body: Option<String>) -> Resp {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let cookie: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header(hyper::header::COOKIE, cookie.join("; "));
        }
        if let Some(token) = &self.bearer {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let response = self.client.request(request).await.expect("server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(hyper::header::SET_COOKIE) {
            if let Some((pair, _)) = value.to_str().unwrap_or("").split_once(';')
                && let Some((k, v)) = pair.split_once('=')
            {
                self.cookies
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}
