//! Which records belong to business date D when an order's three records
//! straddle the cut-off (an order paid at 23:59:59, its payment completed at
//! 00:00:01, its entry posted at 00:00:02).
//!
//! Each record has one time (see `store.rs`). With a match window `h`
//! (`match_window`, at most 6 hours):
//! - a record timed in `[end, end + h)` is pulled forward into D when its
//!   order number has a record in `[end − h, end)`;
//! - a record timed in `[start, start + h)` is left to D−1 when its order
//!   number has a record in `[start − h, start)` (D−1 pulled it forward);
//! - every other record timed in `[start, end)` is D's.
//!
//! Both rules look only at the hour(s) around one cut-off, so D−1's run and
//! D's run agree on every record: each record is compared exactly once.
//! Records further apart than `h` are compared on their own dates.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::jobs::business::window::Window;

/// Longest match window accepted: well under a business day, so that no
/// record can be near both ends of one day.
pub const MATCH_WINDOW_MAX: Duration = Duration::from_secs(6 * 3600);

/// D's window and the match window around its two cut-offs.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub window: Window,
    pub hold: chrono::Duration,
}

impl Span {
    /// The span of `window` with match window `hold`.
    pub fn new(window: Window, hold: Duration) -> Span {
        Span {
            window,
            hold: chrono::Duration::from_std(hold.min(MATCH_WINDOW_MAX))
                .unwrap_or_else(|_| chrono::Duration::zero()),
        }
    }

    /// What must be read: `[start − h, end + h)`.
    pub fn read_range(&self) -> Window {
        Window {
            start: self.window.start - self.hold,
            end: self.window.end + self.hold,
        }
    }
}

/// Order numbers with a record in the match window before each cut-off.
#[derive(Debug, Default)]
pub struct NearCutOff {
    before_start: HashSet<String>,
    before_end: HashSet<String>,
}

impl NearCutOff {
    /// Notes a record read in [`Span::read_range`].
    pub fn note(&mut self, span: &Span, at: DateTime<Utc>, order_no: &str) {
        let (start, end) = (span.window.start, span.window.end);
        if at < start && at >= start - span.hold {
            self.before_start.insert(order_no.to_string());
        } else if at < end && at >= end - span.hold {
            self.before_end.insert(order_no.to_string());
        }
    }

    /// Whether a record at `at` of `order_no` is compared on D.
    pub fn belongs(&self, span: &Span, at: DateTime<Utc>, order_no: &str) -> bool {
        let (start, end) = (span.window.start, span.window.end);
        if at >= start && at < end {
            !(at < start + span.hold && self.before_start.contains(order_no))
        } else if at >= end && at < end + span.hold {
            self.before_end.contains(order_no)
        } else {
            false
        }
    }
}

/// Keeps D's records of three sides read over [`Span::read_range`]; each
/// side is `(time, order number, record)`.
pub fn select<A, B, C>(
    span: &Span,
    orders: Vec<(DateTime<Utc>, String, A)>,
    payments: Vec<(DateTime<Utc>, String, B)>,
    journal: Vec<(DateTime<Utc>, String, C)>,
) -> (Vec<A>, Vec<B>, Vec<C>) {
    let mut near = NearCutOff::default();
    for (at, order_no) in orders
        .iter()
        .map(|(at, no, _)| (at, no))
        .chain(payments.iter().map(|(at, no, _)| (at, no)))
        .chain(journal.iter().map(|(at, no, _)| (at, no)))
    {
        near.note(span, *at, order_no);
    }
    fn keep<T>(span: &Span, near: &NearCutOff, side: Vec<(DateTime<Utc>, String, T)>) -> Vec<T> {
        side.into_iter()
            .filter(|(at, no, _)| near.belongs(span, *at, no))
            .map(|(_, _, record)| record)
            .collect()
    }
    (
        keep(span, &near, orders),
        keep(span, &near, payments),
        keep(span, &near, journal),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap()
    }

    /// D = the 21st (UTC here): window [21st 00:00, 22nd 00:00), h = 30 min.
    fn span() -> Span {
        Span::new(
            Window {
                start: at(0, 0, 21),
                end: at(0, 0, 22),
            },
            Duration::from_secs(30 * 60),
        )
    }

    #[test]
    fn straddling_records_are_compared_once() {
        let s = span();
        // X: order at 23:50 on D, payment 00:10 and entry 00:20 on D+1 → all D's.
        // Y: order at 23:50 on D−1, payment 00:10 on D → D−1's, not D's.
        // Z: payment 00:40 on D+1 → beyond the window, D+1's.
        // W: entry 00:10 on D+1 with nothing near the end of D → D+1's.
        let orders = vec![
            (at(23, 50, 21), "X".to_string(), "oX"),
            (at(23, 50, 20), "Y".to_string(), "oY"),
            (at(12, 0, 21), "Z".to_string(), "oZ"),
        ];
        let payments = vec![
            (at(0, 10, 22), "X".to_string(), "pX"),
            (at(0, 10, 21), "Y".to_string(), "pY"),
            (at(0, 40, 22), "Z".to_string(), "pZ"),
        ];
        let journal = vec![
            (at(0, 20, 22), "X".to_string(), "jX"),
            (at(0, 10, 22), "W".to_string(), "jW"),
        ];
        let (o, p, j) = select(&s, orders, payments, journal);
        assert_eq!(o, ["oX", "oZ"]);
        assert_eq!(p, ["pX"]);
        assert_eq!(j, ["jX"]);
    }

    #[test]
    fn the_previous_day_takes_what_this_day_leaves() {
        // The 20th's view of Y: its order (23:50) is its own, its payment
        // (00:10 on the 21st) is pulled forward — the record the 21st leaves.
        let previous = Span::new(
            Window {
                start: at(0, 0, 20),
                end: at(0, 0, 21),
            },
            Duration::from_secs(30 * 60),
        );
        let orders = vec![(at(23, 50, 20), "Y".to_string(), "oY")];
        let payments = vec![(at(0, 10, 21), "Y".to_string(), "pY")];
        let (o, p, _) = select::<_, _, ()>(&previous, orders, payments, Vec::new());
        assert_eq!((o, p), (vec!["oY"], vec!["pY"]));
    }

    #[test]
    fn zero_window_is_the_plain_day() {
        let s = Span::new(span().window, Duration::ZERO);
        let payments = vec![
            (at(0, 10, 22), "X".to_string(), "late"),
            (at(23, 59, 21), "X".to_string(), "in"),
        ];
        let (_, p, _) = select::<(), _, ()>(&s, Vec::new(), payments, Vec::new());
        assert_eq!(p, ["in"]);
    }
}
