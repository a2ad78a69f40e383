//! A downstream for the fault trials: a real HTTP server on 127.0.0.1
//! that accepts every `POST` (after a short delay, so a fault can land
//! among deliveries) and counts them per `Idempotency-Key` and
//! `Reckon-Fence` epoch.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// POSTs seen, by (idempotency key, fence epoch).
#[derive(Default)]
pub struct Receiver {
    seen: Mutex<BTreeMap<(String, Option<i64>), u32>>,
    delay: Duration,
}

impl Receiver {
    /// Serves on a free port until the process ends; answers each POST
    /// `200 {}` after `delay`.
    pub async fn start(delay: Duration) -> (Arc<Receiver>, SocketAddr) {
        let receiver = Arc::new(Receiver {
            seen: Mutex::default(),
            delay,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver binds");
        let addr = listener.local_addr().expect("receiver address");
        let server = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let server = server.clone();
                        async move {
                            server.count(&req);
                            tokio::time::sleep(server.delay).await;
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("{}"))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (receiver, addr)
    }

    fn count(&self, req: &Request<Incoming>) {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let key = header("idempotency-key").unwrap_or_default();
        let fence = header("reckon-fence").and_then(|f| f.parse().ok());
        *self
            .seen
            .lock()
            .expect("receiver lock")
            .entry((key, fence))
            .or_default() += 1;
    }

    /// Every (key, fence) with its count.
    pub fn seen(&self) -> BTreeMap<(String, Option<i64>), u32> {
        self.seen.lock().expect("receiver lock").clone()
    }
}
