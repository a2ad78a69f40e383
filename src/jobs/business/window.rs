//! The business day's window: which instants belong to business date D.
//!
//! Business day D ends at the cut-off time on D, read in the job's time zone;
//! a cut-off of `00:00` is read as 24:00, the midnight that ends D. D's window
//! is `[end of D-1, end of D)`: with `00:00` it is the calendar day D, with
//! `23:00` it is `[D-1 23:00, D 23:00)`. The ends are turned into UTC instants
//! so that both backends compare them the same way.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The half-open interval `[start, end)` of instants that belong to a business date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// The window of business date `date` with daily cut-off `cut_off` in `zone`.
    pub fn for_date(date: NaiveDate, cut_off: NaiveTime, zone: Tz) -> Window {
        let previous = date.pred_opt().unwrap_or(date);
        Window {
            start: day_end(previous, cut_off, zone),
            end: day_end(date, cut_off, zone),
        }
    }

    /// True when `instant` is inside the window.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end
    }
}

/// The instant business day `date` ends: the cut-off on `date`, or the
/// midnight after `date` when the cut-off is 00:00.
fn day_end(date: NaiveDate, cut_off: NaiveTime, zone: Tz) -> DateTime<Utc> {
    let day = if cut_off == NaiveTime::MIN {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    local_instant(day.and_time(cut_off), zone)
}

/// The instant of a local wall-clock time: the earlier one when the clock is
/// turned back (ambiguous), the first instant after the gap when it is turned
/// forward (the wall-clock time does not exist).
pub fn local_instant(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    let mut probe = local;
    // A daylight-saving gap is at most a few hours; step forward a minute at a time.
    for _ in 0..(24 * 60) {
        if let Some(instant) = zone.from_local_datetime(&probe).earliest() {
            return instant.with_timezone(&Utc);
        }
        probe += Duration::minutes(1);
    }
    // Unreachable for real zones; treat the wall-clock time as UTC rather than panic.
    Utc.from_utc_datetime(&local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn check(date: &str, cut_off: &str, zone: Tz, start: &str, end: &str) {
        let window = Window::for_date(
            date.parse().unwrap(),
            NaiveTime::parse_from_str(cut_off, "%H:%M").unwrap(),
            zone,
        );
        assert_eq!(
            window.start,
            instant(start),
            "{date} {cut_off} {zone} start"
        );
        assert_eq!(window.end, instant(end), "{date} {cut_off} {zone} end");
    }

    #[test]
    fn windows_by_cut_off_and_zone() {
        // Shanghai is UTC+8 all year: the calendar day 2026-11-21 is 16:00Z..16:00Z.
        check(
            "2026-11-21",
            "00:00",
            chrono_tz::Asia::Shanghai,
            "2026-11-20T16:00:00Z",
            "2026-11-21T16:00:00Z",
        );
        // A 23:00 cut-off moves both ends back an hour.
        check(
            "2026-11-21",
            "23:00",
            chrono_tz::Asia::Shanghai,
            "2026-11-20T15:00:00Z",
            "2026-11-21T15:00:00Z",
        );
        // Berlin, spring forward on 2026-03-29 at 02:00 → 03:00: a 23-hour day.
        check(
            "2026-03-29",
            "00:00",
            chrono_tz::Europe::Berlin,
            "2026-03-28T23:00:00Z",
            "2026-03-29T22:00:00Z",
        );
        // A cut-off inside the gap (02:30 does not exist) falls on 03:00 local = 01:00Z.
        check(
            "2026-03-29",
            "02:30",
            chrono_tz::Europe::Berlin,
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
        );
    }

    #[test]
    fn window_is_half_open() {
        let window = Window::for_date(
            "2026-11-21".parse().unwrap(),
            NaiveTime::MIN,
            chrono_tz::Asia::Shanghai,
        );
        assert!(window.contains(instant("2026-11-20T16:00:00Z")));
        assert!(window.contains(instant("2026-11-21T15:59:59Z")));
        assert!(!window.contains(instant("2026-11-21T16:00:00Z")));
    }
}
