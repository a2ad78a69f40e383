//! Check-back: asking the business side whether a prepared transaction
//! committed or rolled back — by one SQL query per batch and transaction
//! type, or by one HTTP `GET` per message.
//!
//! SQL protocol: the configured query has `IN ({keys})` where reckon puts the
//! batch's business keys — `SELECT value FROM json_each($1)` (one JSON array
//! parameter) on SQLite, `SELECT unnest($1::text[])` (one array parameter) on
//! PostgreSQL; it returns rows
//! `(business_key, outcome)`. Outcome `committed` or `rolled_back` decides;
//! anything else, no row, or a failed query is unknown.
//!
//! HTTP protocol: `GET` of the URL with `{key}` replaced by the
//! percent-encoded business key. Only status 200 with a JSON object body
//! `{"outcome": "committed" | "rolled_back"}` and no non-null `error` member
//! decides; any other answer (another status, an error body, a timeout) is unknown.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use super::error::CompensationError;
use super::http::{HttpClient, body_error, encode_component};
use super::settings::{CheckerConfig, Settings};
use super::state::Verdict;
use super::store::Due;
use crate::db::Db;

/// A checker ready to ask.
enum Checker {
    Sql { query: String, db: Db },
    Http { url: String },
}

/// The checkers of every configured transaction type.
pub struct Checkers {
    by_type: BTreeMap<String, Checker>,
}

impl Checkers {
    /// Opens the business databases the SQL checkers need (`own` when none is named).
    pub async fn open(settings: &Settings, own: &Db) -> Result<Checkers, CompensationError> {
        let mut by_type = BTreeMap::new();
        for (txn_type, config) in &settings.checkers {
            let checker = match config {
                CheckerConfig::Sql { query, database } => {
                    let db = match database {
                        None => own.clone(),
                        Some(url) => Db::connect(url).await.map_err(|source| {
                            CompensationError::BusinessDb {
                                txn_type: txn_type.clone(),
                                source,
                            }
                        })?,
                    };
                    Checker::Sql {
                        query: query.clone(),
                        db,
                    }
                }
                CheckerConfig::Http { url } => Checker::Http { url: url.clone() },
            };
            by_type.insert(txn_type.clone(), checker);
        }
        Ok(Checkers { by_type })
    }

    /// The verdict on each message of `batch`, in the same order.
    pub async fn check(
        &self,
        http: &HttpClient,
        concurrency: usize,
        batch: &[Due],
    ) -> Vec<Verdict> {
        let mut verdicts: Vec<Option<Verdict>> = vec![None; batch.len()];
        let mut by_type: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, due) in batch.iter().enumerate() {
            by_type
                .entry(due.txn_type.as_str())
                .or_default()
                .push(index);
        }
        for (txn_type, indexes) in by_type {
            let keys: Vec<&str> = indexes
                .iter()
                .map(|&i| batch[i].business_key.as_str())
                .collect();
            let answers = match self.by_type.get(txn_type) {
                None => vec![
                    Verdict::Unknown(format!(
                        "no checker configured for transaction type `{txn_type}`"
                    ));
                    keys.len()
                ],
                Some(Checker::Sql { query, db }) => sql_check(db, query, &keys).await,
                Some(Checker::Http { url }) => http_check(http, url, &keys, concurrency).await,
            };
            for (index, verdict) in indexes.into_iter().zip(answers) {
                verdicts[index] = Some(verdict);
            }
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Verdict::Unknown("not checked".into())))
            .collect()
    }
}

/// Reads a checker's outcome word.
pub fn outcome_of(word: &str) -> Verdict {
    match word.trim() {
        "committed" => Verdict::Committed,
        "rolled_back" => Verdict::RolledBack,
        other => Verdict::Unknown(format!("checker answered `{other}`")),
    }
}

async fn sql_check(db: &Db, query: &str, keys: &[&str]) -> Vec<Verdict> {
    let distinct: Vec<&str> = keys
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let result: Result<Vec<(String, String)>, sqlx::Error> = match db {
        // One parameter either way: the statement is the same for every batch.
        Db::Postgres(pool) => {
            let sql = query.replace("{keys}", "SELECT unnest($1::text[])");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&distinct)
                .fetch_all(pool)
                .await
        }
        Db::Sqlite(pool) => {
            let sql = query.replace("{keys}", "SELECT value FROM json_each($1)");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(serde_json::json!(distinct).to_string())
                .fetch_all(pool)
                .await
        }
    };
    match result {
        Ok(rows) => {
            let found: BTreeMap<String, String> = rows.into_iter().collect();
            keys.iter()
                .map(|key| match found.get(*key) {
                    Some(word) => outcome_of(word),
                    None => Verdict::Unknown("business key not found by the checker query".into()),
                })
                .collect()
        }
        Err(e) => {
            let why = format!("checker query failed: {}", crate::error_chain::chain(&e));
            vec![Verdict::Unknown(why); keys.len()]
        }
    }
}

async fn http_check(
    http: &HttpClient,
    url: &str,
    keys: &[&str],
    concurrency: usize,
) -> Vec<Verdict> {
    let asks: Vec<_> = keys
        .iter()
        .map(|key| {
            let url = url.replace("{key}", &encode_component(key));
            async move { verdict_of_answer(http.get(&url).await) }
        })
        .collect();
    futures::stream::iter(asks)
        .buffered(concurrency)
        .collect()
        .await
}

/// The verdict of one HTTP answer (see the module documentation).
pub fn verdict_of_answer(answer: Result<super::http::Answer, String>) -> Verdict {
    let answer = match answer {
        Ok(answer) => answer,
        Err(why) => return Verdict::Unknown(why),
    };
    if answer.status != 200 {
        return Verdict::Unknown(format!("checker answered HTTP {}", answer.status));
    }
    if let Some(why) = body_error(&answer.body) {
        return Verdict::Unknown(why);
    }
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    match body.get("outcome").and_then(|o| o.as_str()) {
        Some(word) => outcome_of(word),
        None => Verdict::Unknown("checker answer has no `outcome`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::http::Answer;
    use super::*;

    fn answer(status: u16, body: &str) -> Result<Answer, String> {
        Ok(Answer {
            status,
            body: hyper::body::Bytes::from(body.to_string()),
        })
    }

    #[test]
    fn only_a_clean_200_decides() {
        assert_eq!(
            verdict_of_answer(answer(200, r#"{"outcome":"committed"}"#)),
            Verdict::Committed
        );
        assert_eq!(
            verdict_of_answer(answer(200, r#"{"outcome":"rolled_back"}"#)),
            Verdict::RolledBack
        );
        for (status, body) in [
            (200, r#"{"outcome":"committed","error":"stale replica"}"#),
            (200, r#"{"error":"db down"}"#),
            (200, r#"{"outcome":"pending"}"#),
            (200, "committed"),
            (500, r#"{"outcome":"committed"}"#),
            (404, ""),
        ] {
            assert!(
                matches!(verdict_of_answer(answer(status, body)), Verdict::Unknown(_)),
                "{status} {body}"
            );
        }
        assert!(matches!(
            verdict_of_answer(Err("timeout".into())),
            Verdict::Unknown(_)
        ));
    }
}
