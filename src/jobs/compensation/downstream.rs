//! Delivery of committed messages downstream, with the message id as the
//! idempotency key so that a repeated delivery is harmless.
//!
//! HTTP protocol: `POST` of `{"id", "txn_type", "business_key", "payload"}`
//! (payload as JSON when it parses) with header `Idempotency-Key: <id>`
//! and, from a fenced shard, `Reckon-Fence: <epoch>` (the fencing token: a
//! downstream may refuse a lower epoch than one it has seen for the key).
//! Success is a 2xx status whose body is empty or a JSON object without a
//! non-null `error` member; anything else is a failure to retry later.
//! Outbox: a `txn_outbox` row keyed by the id, written in the same
//! transaction as the `committed → delivered` change (exactly once).

use std::collections::BTreeMap;

use super::http::{HttpClient, body_error};
use super::settings::DownstreamConfig;
use super::store::{Due, OutboxRow};

/// What became of one delivery try.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The downstream accepted it.
    Done,
    /// To be written to the outbox with the state change.
    Outbox(OutboxRow),
    /// Not accepted: why.
    Failed(String),
}

/// Delivers one message to the downstream of its transaction type; `fence`
/// is the epoch of the shard fence the sender holds (sent as `Reckon-Fence`).
pub async fn deliver(
    http: &HttpClient,
    downstreams: &BTreeMap<String, DownstreamConfig>,
    due: &Due,
    fence: Option<crate::ledger::ShardEpoch>,
) -> Delivery {
    match downstreams.get(&due.txn_type) {
        None => Delivery::Failed(format!(
            "no downstream configured for transaction type `{}`",
            due.txn_type
        )),
        Some(DownstreamConfig::Outbox) => Delivery::Outbox(OutboxRow {
            txn_type: due.txn_type.clone(),
            business_key: due.business_key.clone(),
            payload: due.payload.clone(),
        }),
        Some(DownstreamConfig::Http { url }) => {
            let payload = serde_json::from_str::<serde_json::Value>(&due.payload)
                .unwrap_or_else(|_| serde_json::Value::String(due.payload.clone()));
            let body = serde_json::json!({
                "id": due.id,
                "txn_type": due.txn_type,
                "business_key": due.business_key,
                "payload": payload,
            });
            match http
                .post_json(url, &due.id, fence, body.to_string().into_bytes())
                .await
            {
                Err(why) => Delivery::Failed(why),
                Ok(answer) if !(200..300).contains(&answer.status) => {
                    Delivery::Failed(format!("downstream answered HTTP {}", answer.status))
                }
                Ok(answer) if answer.body.iter().all(u8::is_ascii_whitespace) => Delivery::Done,
                Ok(answer) => match body_error(&answer.body) {
                    None => Delivery::Done,
                    Some(why) => Delivery::Failed(format!("downstream {why}")),
                },
            }
        }
    }
}
