//! What business systems and operators do to a message from outside a run:
//! the confirmation API (`confirm`), and manual `retry` / `resolve`. Every
//! change is a compare-and-set on the current state; refused confirmations
//! and every manual action are written to the append-only `txn_actions`.

use super::error::CompensationError;
use super::state::State;
use super::store::{self, Action, Message};
use crate::db::{Db, DbTx};
use crate::on_tx;

/// Tries of a confirmation that keeps losing races (bounded; in practice 1–2).
const CONFIRM_TRIES_MAX: usize = 3;

/// What the business transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Commit,
    Rollback,
}

impl Decision {
    fn target(self) -> State {
        match self {
            Decision::Commit => State::Committed,
            Decision::Rollback => State::RolledBack,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Rollback => "rollback",
        }
    }
}

/// The answer to a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// `prepared` → the decided state.
    Applied,
    /// The message already reflects this decision (a repeated confirmation).
    AlreadyApplied(State),
    /// The message was ruled otherwise (rolled back, dead, or committed when
    /// rolling back); the confirmation is recorded and not applied.
    Refused(State),
}

/// Who did something and why (manual actions).
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub who: &'a str,
    pub why: &'a str,
}

/// A business system confirms its local transaction for message `id`.
pub async fn confirm(
    db: &Db,
    id: &str,
    decision: Decision,
    confirmed_by: &str,
    now_ms: i64,
) -> Result<Confirmation, CompensationError> {
    let target = decision.target();
    for _ in 0..CONFIRM_TRIES_MAX {
        let mut tx = db.begin().await?;
        if cas(&mut tx, id, State::Prepared, target, None, now_ms).await? {
            tx.commit().await?;
            return Ok(Confirmation::Applied);
        }
        let message = store::get(db, id)
            .await?
            .ok_or_else(|| CompensationError::NotFound(id.to_string()))?;
        let already = match decision {
            Decision::Commit => matches!(message.state, State::Committed | State::Delivered),
            Decision::Rollback => message.state == State::RolledBack,
        };
        if already {
            tx.rollback().await?;
            return Ok(Confirmation::AlreadyApplied(message.state));
        }
        if message.state == State::Prepared {
            tx.rollback().await?;
            continue;
        }
        let entry = Action {
            seq: 0,
            message_id: id.to_string(),
            at_ms: now_ms,
            actor: confirmed_by.to_string(),
            action: format!("confirm_{}_refused", decision.word()),
            old_state: message.state.as_str().to_string(),
            new_state: message.state.as_str().to_string(),
            reason: format!(
                "late {} confirmation: message was already ruled {}",
                decision.word(),
                message.state
            ),
        };
        store::append_action(&mut tx, &entry).await?;
        tx.commit().await?;
        tracing::warn!(message = id, state = %message.state, "{}", entry.reason);
        return Ok(Confirmation::Refused(message.state));
    }
    Err(CompensationError::Refused {
        id: id.to_string(),
        state: State::Prepared,
        reason: "confirmation kept losing races with check-back; try again".into(),
    })
}

/// `reckon txn retry`: a `dead` message goes back to the state it died in
/// (`prepared` or `committed`) with its counter reset, due now.
pub async fn retry(
    db: &Db,
    id: &str,
    actor: &Actor<'_>,
    now_ms: i64,
) -> Result<Message, CompensationError> {
    let message = existing(db, id).await?;
    let back_to = match (message.state, message.dead_from) {
        (State::Dead, Some(from)) => from,
        (State::Dead, None) => State::Prepared,
        (state, _) => {
            return Err(CompensationError::Refused {
                id: id.to_string(),
                state,
                reason: "only a dead message can be retried".into(),
            });
        }
    };
    manual_move(db, &message, back_to, "retry", actor, now_ms).await
}

/// `reckon txn resolve`: an operator decides an undecided message
/// (`prepared`, or `dead` after check-back gave up).
pub async fn resolve(
    db: &Db,
    id: &str,
    decision: Decision,
    actor: &Actor<'_>,
    now_ms: i64,
) -> Result<Message, CompensationError> {
    let message = existing(db, id).await?;
    let undecided = message.state == State::Prepared
        || (message.state == State::Dead && message.dead_from != Some(State::Committed));
    if !undecided {
        let hint = if message.state == State::Dead {
            "its transaction committed and only delivery gave up: use `reckon txn retry`"
        } else {
            "its outcome is already decided"
        };
        return Err(CompensationError::Refused {
            id: id.to_string(),
            state: message.state,
            reason: hint.into(),
        });
    }
    let action = format!("resolve_{}", decision.word());
    manual_move(db, &message, decision.target(), &action, actor, now_ms).await
}

async fn existing(db: &Db, id: &str) -> Result<Message, CompensationError> {
    store::get(db, id)
        .await?
        .ok_or_else(|| CompensationError::NotFound(id.to_string()))
}

async fn manual_move(
    db: &Db,
    message: &Message,
    to: State,
    action: &str,
    actor: &Actor<'_>,
    now_ms: i64,
) -> Result<Message, CompensationError> {
    if actor.why.trim().is_empty() {
        return Err(CompensationError::Refused {
            id: message.id.clone(),
            state: message.state,
            reason: "a reason is required for a manual action".into(),
        });
    }
    let mut tx = db.begin().await?;
    let reset = match to {
        State::Prepared => Some("check_count"),
        State::Committed if message.state == State::Dead => Some("delivery_attempts"),
        _ => None,
    };
    if !cas(&mut tx, &message.id, message.state, to, reset, now_ms).await? {
        tx.rollback().await?;
        return Err(CompensationError::Refused {
            id: message.id.clone(),
            state: message.state,
            reason: "the message changed meanwhile; look again".into(),
        });
    }
    let entry = Action {
        seq: 0,
        message_id: message.id.clone(),
        at_ms: now_ms,
        actor: actor.who.to_string(),
        action: action.to_string(),
        old_state: message.state.as_str().to_string(),
        new_state: to.as_str().to_string(),
        reason: actor.why.trim().to_string(),
    };
    store::append_action(&mut tx, &entry).await?;
    tx.commit().await?;
    existing(db, &message.id).await
}

/// `UPDATE … SET state = to WHERE id = … AND state = from`, due now; true when it applied.
async fn cas(
    tx: &mut DbTx,
    id: &str,
    from: State,
    to: State,
    reset_counter: Option<&str>,
    now_ms: i64,
) -> Result<bool, CompensationError> {
    let reset = match reset_counter {
        Some("check_count") => ", check_count = 0",
        Some("delivery_attempts") => ", delivery_attempts = 0",
        _ => "",
    };
    let sql = format!(
        "UPDATE txn_messages SET state = $3, next_attempt_at_ms = $4, updated_at_ms = $4, \
         last_error = NULL, dead_from = NULL{reset} WHERE id = $1 AND state = $2"
    );
    let moved = on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(now_ms)
            .execute(&mut **conn)
            .await?
            .rows_affected()
    });
    Ok(moved == 1)
}
