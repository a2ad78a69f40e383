//! The scheduler with a manual clock: on-time fires, misfire after downtime
//! (fire_once runs once, skip does not), and restarts that remember.

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::{TestDb, date, probe_job};
use reckon::ledger::Trigger;
use reckon::schedule::ManualClock;
use reckon::scheduler::Scheduler;

on_both_backends! {
    misfire_policies_after_downtime => misfire_policies_after_downtime;
}

async fn misfire_policies_after_downtime(db: &TestDb) {
    // 02:00 in Shanghai = 18:00 UTC the day before.
    let cron = "cron = \"0 0 2 * * *\"\ntime_zone = \"Asia/Shanghai\"";
    let jobs = [
        (
            "fo",
            probe_job("fo", 1, &format!("{cron}\nmisfire = \"fire_once\"")),
        ),
        (
            "sk",
            probe_job("sk", 1, &format!("{cron}\nmisfire = \"skip\"")),
        ),
    ];
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let h = common::harness(db, &jobs, clock.clone()).await;
    let scheduler = Scheduler::new(h.runner.clone(), clock.clone(), "scheduler@test");

    // First start: nothing is due, the clock position is remembered.
    assert!(scheduler.tick().await.unwrap().is_empty());

    // The node was down for three days: three fire times were missed.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap());
    // A restarted node has a fresh scheduler; the memory is in the ledger.
    let restarted = Scheduler::new(h.runner.clone(), clock.clone(), "scheduler@test");
    let created = restarted.tick().await.unwrap();
    assert_eq!(
        created.len(),
        1,
        "fire_once runs once, skip does not: {created:?}"
    );
    assert_eq!(created[0].job, "fo");
    assert_eq!(created[0].trigger, Trigger::Misfire);
    assert_eq!(
        created[0].business_date,
        date("2026-11-22"),
        "the latest missed fire's business date"
    );
    assert!(
        created[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("3 missed fire time(s)")
    );

    // Nothing more for the same moment, however often it ticks.
    assert!(restarted.tick().await.unwrap().is_empty());

    // The next fire on time runs both jobs as ordinary cron runs.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 30).unwrap());
    let mut on_time = restarted.tick().await.unwrap();
    on_time.sort_by(|a, b| a.job.cmp(&b.job));
    let seen: Vec<(&str, Trigger, chrono::NaiveDate)> = on_time
        .iter()
        .map(|r| (r.job.as_str(), r.trigger, r.business_date))
        .collect();
    assert_eq!(
        seen,
        [
            ("fo", Trigger::Cron, date("2026-11-23")),
            ("sk", Trigger::Cron, date("2026-11-23"))
        ]
    );
}
