//! The message state machine and the pure rules that move a message: what a
//! check-back verdict or a delivery result turns into, and the backoff.

use std::time::Duration;

/// Where a transactional message is in its life.
///
/// `prepared → committed → delivered`, `prepared → rolled_back`,
/// `prepared → dead`, `committed → dead`. Only manual handling leaves `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Prepared,
    Committed,
    Delivered,
    RolledBack,
    Dead,
}

impl State {
    /// Every state, in report order.
    pub const ALL: [State; 5] = [
        State::Prepared,
        State::Committed,
        State::Delivered,
        State::RolledBack,
        State::Dead,
    ];

    /// The name stored in `txn_messages.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Prepared => "prepared",
            State::Committed => "committed",
            State::Delivered => "delivered",
            State::RolledBack => "rolled_back",
            State::Dead => "dead",
        }
    }

    /// Parses a stored or typed state name.
    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// True for `delivered` and `rolled_back`: nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(self, State::Delivered | State::RolledBack)
    }

    /// True when the state machine allows `self → to` (automatic or confirmed).
    pub fn can_move_to(self, to: State) -> bool {
        matches!(
            (self, to),
            (State::Prepared, State::Committed)
                | (State::Prepared, State::RolledBack)
                | (State::Prepared, State::Dead)
                | (State::Committed, State::Delivered)
                | (State::Committed, State::Dead)
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a checker says about a business transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Committed,
    RolledBack,
    /// No usable answer; the text says why (kept as the message's last error).
    Unknown(String),
}

/// Limits of retrying: exponential backoff and a maximum number of tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryLimits {
    pub backoff_initial: Duration,
    pub backoff_cap: Duration,
    /// Tries after which the message goes `dead`.
    pub tries_max: u32,
}

impl RetryLimits {
    /// Wait after failed try number `tries` (1-based): initial × 2^(tries-1), capped.
    pub fn backoff(&self, tries: u32) -> Duration {
        let factor = 2u32.saturating_pow(tries.saturating_sub(1));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_cap)
    }
}

/// A compare-and-set a step wants to make: move `id` from (`from`,
/// `old_checks`, `old_attempts`) to the new values, only if it is still there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub id: String,
    pub from: State,
    pub to: State,
    pub old_checks: i64,
    pub checks: i64,
    pub old_attempts: i64,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub error: Option<String>,
}

/// The transition after a check-back of a `prepared` message that had
/// `checks` check-backs before this one.
pub fn after_check(
    id: &str,
    checks: i64,
    attempts: i64,
    verdict: &Verdict,
    limits: &RetryLimits,
    now_ms: i64,
) -> Transition {
    let new_checks = checks + 1;
    let (to, next, error) = match verdict {
        Verdict::Committed => (State::Committed, now_ms, None),
        Verdict::RolledBack => (State::RolledBack, now_ms, None),
        Verdict::Unknown(why) => {
            let tries = u32::try_from(new_checks).unwrap_or(u32::MAX);
            let to = if tries >= limits.tries_max {
                State::Dead
            } else {
                State::Prepared
            };
            (
                to,
                now_ms + millis(limits.backoff(tries)),
                Some(why.clone()),
            )
        }
    };
    Transition {
        id: id.to_string(),
        from: State::Prepared,
        to,
        old_checks: checks,
        checks: new_checks,
        old_attempts: attempts,
        attempts,
        next_attempt_at_ms: next,
        error,
    }
}

/// The transition after a delivery try of a `committed` message;
/// `failure` is `None` when the downstream accepted it.
pub fn after_delivery(
    id: &str,
    checks: i64,
    attempts: i64,
    failure: Option<&str>,
    limits: &RetryLimits,
    now_ms: i64,
) -> Transition {
    let new_attempts = attempts + 1;
    let (to, next) = match failure {
        None => (State::Delivered, now_ms),
        Some(_) => {
            let tries = u32::try_from(new_attempts).unwrap_or(u32::MAX);
            let to = if tries >= limits.tries_max {
                State::Dead
            } else {
                State::Committed
            };
            (to, now_ms + millis(limits.backoff(tries)))
        }
    };
    Transition {
        id: id.to_string(),
        from: State::Committed,
        to,
        old_checks: checks,
        checks,
        old_attempts: attempts,
        attempts: new_attempts,
        next_attempt_at_ms: next,
        error: failure.map(str::to_string),
    }
}

/// A duration in whole milliseconds (saturating).
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RetryLimits = RetryLimits {
        backoff_initial: Duration::from_secs(10),
        backoff_cap: Duration::from_secs(60),
        tries_max: 4,
    };

    #[test]
    fn only_the_documented_moves_are_allowed() {
        let allowed: Vec<(State, State)> = State::ALL
            .into_iter()
            .flat_map(|a| State::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_move_to(*b))
            .collect();
        use State::*;
        assert_eq!(
            allowed,
            [
                (Prepared, Committed),
                (Prepared, RolledBack),
                (Prepared, Dead),
                (Committed, Delivered),
                (Committed, Dead)
            ]
        );
    }

    #[test]
    fn unknown_backs_off_doubling_then_dies_at_the_maximum() {
        // Waits 10, 20, 40 s; the 4th unknown check is the last (tries_max = 4).
        let mut checks = 0;
        let mut waits = Vec::new();
        loop {
            let t = after_check("m", checks, 0, &Verdict::Unknown("x".into()), &LIMITS, 1000);
            checks = t.checks;
            if t.to == State::Dead {
                break;
            }
            assert_eq!(t.to, State::Prepared);
            waits.push((t.next_attempt_at_ms - 1000) / 1000);
        }
        assert_eq!(waits, [10, 20, 40]);
        assert_eq!(checks, 4);
        assert_eq!(LIMITS.backoff(5), Duration::from_secs(60), "capped");
    }

    #[test]
    fn verdicts_and_deliveries_map_to_states() {
        let c = after_check("m", 2, 0, &Verdict::Committed, &LIMITS, 5);
        assert_eq!(
            (c.from, c.to, c.old_checks, c.checks),
            (State::Prepared, State::Committed, 2, 3)
        );
        let r = after_check("m", 0, 0, &Verdict::RolledBack, &LIMITS, 5);
        assert_eq!(r.to, State::RolledBack);
        let d = after_delivery("m", 1, 0, None, &LIMITS, 5);
        assert_eq!((d.to, d.attempts, d.error), (State::Delivered, 1, None));
        let f = after_delivery("m", 1, 3, Some("HTTP 503"), &LIMITS, 5);
        assert_eq!((f.to, f.attempts), (State::Dead, 4));
        let g = after_delivery("m", 1, 0, Some("HTTP 503"), &LIMITS, 5);
        assert_eq!((g.to, g.next_attempt_at_ms), (State::Committed, 10_005));
    }
}
