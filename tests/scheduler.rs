//! The scheduler with a manual clock: on-time fires, misfire after downtime
//! (fire_once runs once, skip does not), and restarts that remember.

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::{TestDb, date, probe_job};
use reckon::ledger::Trigger;
use reckon::schedule::{Clock, ManualClock};
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

on_both_backends! {
    single_node_switches => single_node_switches;
}

/// `reckon cluster disable` on a single node (the console shares the code):
/// a disabled job does not fire; a disabled instance fires nothing; enabled
/// again, the missed fire follows the misfire policy. Every change journaled.
async fn single_node_switches(db: &TestDb) {
    use reckon::coord::zookeeper::status::Toggle;
    use reckon::toggles::{Change, Place, apply, journal};
    let cron = "cron = \"0 0 2 * * *\"\ntime_zone = \"Asia/Shanghai\"";
    let jobs = [
        ("a", probe_job("a", 1, cron)),
        ("b", probe_job("b", 1, cron)),
    ];
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
    ));
    let h = common::harness(db, &jobs, clock.clone()).await;
    let scheduler = Scheduler::new(h.runner.clone(), clock.clone(), "scheduler@test");
    assert!(scheduler.tick().await.unwrap().is_empty());
    let switch = |what, name: &'static str, disable| Change {
        what,
        name,
        disable,
        actor: "cli:ops",
        reason: "statement late",
    };
    let now = clock.now();
    apply(&db.db, Place::Node, &switch(Toggle::Job, "a", true), now)
        .await
        .unwrap();
    // 02:00 Shanghai on the 20th: only b fires.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 20, 18, 0, 30).unwrap());
    let fired: Vec<String> = scheduler
        .tick()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.job.to_string())
        .collect();
    assert_eq!(fired, ["b"]);
    // The node's own instance disabled: nothing fires.
    let me = h.runner.coordinator().instance_id().to_string();
    let me: &'static str = Box::leak(me.into_boxed_str());
    apply(
        &db.db,
        Place::Node,
        &switch(Toggle::Instance, me, true),
        now,
    )
    .await
    .unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 21, 18, 0, 30).unwrap());
    assert!(scheduler.tick().await.unwrap().is_empty());
    // Both enabled again: a fires its missed date once (fire_once), b its due fire.
    apply(
        &db.db,
        Place::Node,
        &switch(Toggle::Instance, me, false),
        now,
    )
    .await
    .unwrap();
    apply(&db.db, Place::Node, &switch(Toggle::Job, "a", false), now)
        .await
        .unwrap();
    let mut fired: Vec<(String, chrono::NaiveDate)> = scheduler
        .tick()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.job.to_string(), r.business_date))
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        [
            ("a".to_string(), date("2026-11-21")),
            ("b".to_string(), date("2026-11-21"))
        ]
    );
    let rows: Vec<(String, String)> = journal(&db.db, 10)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| (format!("{} {}", e.what, e.name), e.action))
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0], ("job a".to_string(), "disable".to_string()));
    assert!(
        apply(
            &db.db,
            Place::Node,
            &Change {
                reason: " ",
                ..switch(Toggle::Job, "a", true)
            },
            now
        )
        .await
        .is_err(),
        "a reason is required"
    );
}
