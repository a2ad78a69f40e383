//! `reckon txn`: look at transactional messages and handle them by hand
//! (retry a dead message, resolve an undecided one). Every manual action is
//! recorded with who (`--by`, default the OS user) and why (`--reason`).

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::context::{open_db, requested_by};
use super::{EXIT_OK, Failure};
use crate::config::Config;
use crate::jobs::compensation::manual::{self, Actor, Decision};
use crate::jobs::compensation::{CompensationError, Message, State, store};

/// Upper bound on messages listed at once.
const LIST_LIMIT_DEFAULT: usize = 200;

#[derive(Debug, Args)]
pub(super) struct TxnArgs {
    #[command(subcommand)]
    command: TxnCommand,
}

#[derive(Debug, Subcommand)]
enum TxnCommand {
    /// List messages by id (optionally in one state)
    List {
        /// prepared, committed, delivered, rolled_back or dead
        #[arg(long)]
        state: Option<String>,
        /// At most this many messages
        #[arg(long, default_value_t = LIST_LIMIT_DEFAULT)]
        limit: usize,
    },
    /// Show one message and its journal of manual actions and refused confirmations
    Show {
        /// The message id
        id: String,
    },
    /// Put a dead message back to the state it died in, counters reset
    Retry {
        /// The message id
        id: String,
        #[command(flatten)]
        who: Who,
    },
    /// Decide an undecided (prepared, or dead after check-back) message
    Resolve {
        /// The message id
        id: String,
        /// The business transaction committed: deliver it
        #[arg(
            long,
            conflicts_with = "rollback",
            required_unless_present = "rollback"
        )]
        commit: bool,
        /// The business transaction rolled back
        #[arg(long)]
        rollback: bool,
        #[command(flatten)]
        who: Who,
    },
}

#[derive(Debug, Args)]
struct Who {
    /// Why (recorded in the action journal)
    #[arg(long)]
    reason: String,
    /// Who [default: $USER@host]
    #[arg(long)]
    by: Option<String>,
}

/// `reckon txn …`.
pub(super) async fn txn(config: &Config, args: TxnArgs) -> Result<u8, Failure> {
    let db = open_db(config).await?;
    let now_ms = Utc::now().timestamp_millis();
    match args.command {
        TxnCommand::List { state, limit } => {
            let state = state
                .map(|s| {
                    State::parse(&s).ok_or_else(|| {
                        Failure::usage(format!(
                            "`{s}` is not a state: prepared, committed, delivered, rolled_back, dead"
                        ))
                    })
                })
                .transpose()?;
            let messages = store::list(&db, state, limit).await.map_err(Failure::run)?;
            print_list(&messages);
        }
        TxnCommand::Show { id } => {
            let message = store::get(&db, &id)
                .await
                .map_err(Failure::run)?
                .ok_or_else(|| Failure::usage(CompensationError::NotFound(id.clone())))?;
            let actions = store::actions(&db, &id).await.map_err(Failure::run)?;
            print_message(&message);
            println!("\nactions:");
            for a in actions {
                println!(
                    "  {}  {:<24} {:<12} → {:<12} by {}: {}",
                    time(a.at_ms),
                    a.action,
                    a.old_state,
                    a.new_state,
                    a.actor,
                    a.reason
                );
            }
        }
        TxnCommand::Retry { id, who } => {
            let by = who.by.unwrap_or_else(requested_by);
            let actor = Actor {
                who: &by,
                why: &who.reason,
            };
            let message = manual::retry(&db, &id, &actor, now_ms)
                .await
                .map_err(refusal)?;
            println!("{id} is {} again (retried by {by})", message.state);
        }
        TxnCommand::Resolve {
            id,
            commit,
            rollback: _,
            who,
        } => {
            let decision = if commit {
                Decision::Commit
            } else {
                Decision::Rollback
            };
            let by = who.by.unwrap_or_else(requested_by);
            let actor = Actor {
                who: &by,
                why: &who.reason,
            };
            let message = manual::resolve(&db, &id, decision, &actor, now_ms)
                .await
                .map_err(refusal)?;
            println!("{id} is {} (resolved by {by})", message.state);
        }
    }
    db.close().await;
    Ok(EXIT_OK)
}

/// A refused or impossible manual action is the operator's to fix (exit 2);
/// a database failure is not.
fn refusal(e: CompensationError) -> Failure {
    match e {
        CompensationError::Database(_) => Failure::run(e),
        other => Failure::usage(other),
    }
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Prints the list; a closed pipe (`| head`) just ends the output.
fn print_list(messages: &[Message]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<24} {:<12} {:<24} {:<12} {:>6} {:>8} {:>14}  {:<19}  LAST ERROR",
        "ID", "TYPE", "BUSINESS KEY", "STATE", "CHECKS", "ATTEMPTS", "AMOUNT", "NEXT (UTC)"
    );
    for m in messages {
        let written = writeln!(
            out,
            "{:<24} {:<12} {:<24} {:<12} {:>6} {:>8} {:>14}  {:<19}  {}",
            m.id,
            m.txn_type,
            m.business_key,
            m.state.as_str(),
            m.check_count,
            m.delivery_attempts,
            m.amount
                .map(|a| crate::money::format_scaled(a, 2))
                .unwrap_or_default(),
            time(m.next_attempt_at_ms),
            m.last_error.as_deref().unwrap_or("")
        );
        if written.is_err() {
            return;
        }
    }
}

fn print_message(m: &Message) {
    println!("id:                {}", m.id);
    println!("type:              {}", m.txn_type);
    println!("business key:      {}", m.business_key);
    println!("state:             {}", m.state);
    if let Some(from) = m.dead_from {
        println!("died in:           {from}");
    }
    println!("check-backs:       {}", m.check_count);
    println!("delivery attempts: {}", m.delivery_attempts);
    println!("next attempt:      {} UTC", time(m.next_attempt_at_ms));
    println!(
        "last error:        {}",
        m.last_error.as_deref().unwrap_or("-")
    );
    println!("prepared at:       {} UTC", time(m.created_at_ms));
    println!("updated at:        {} UTC", time(m.updated_at_ms));
    println!("payload:           {}", m.payload);
}
