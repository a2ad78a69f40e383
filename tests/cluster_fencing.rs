//! Ledger rules cluster mode relies on, on both backends: a shard that has
//! committed is never claimed (and so never run) again, and a node whose
//! epoch was superseded cannot mark the shard's end.

mod common;

use common::{TestDb, date, manual, probe_job, simple_harness};
use reckon::ledger::{LedgerError, RunStatus};

on_both_backends! {
    committed_shard_is_not_claimed_again => committed_shard_is_not_claimed_again;
    superseded_owner_cannot_mark_the_end => superseded_owner_cannot_mark_the_end;
}

async fn committed_shard_is_not_claimed_again(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 1, ""))]).await;
    let run = h.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    h.ledger
        .start_run_with_shards(&run.run_id, "node-a", &[0], None, None)
        .await
        .unwrap();
    let d = date("2026-11-21");
    let epoch = h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-a")
        .await
        .unwrap();
    let fenced = h
        .ledger
        .begin_fenced(&run.run_id, &"eod".into(), d, 0, epoch)
        .await
        .unwrap();
    h.ledger
        .commit_shard(fenced, 1, 1, &serde_json::json!({}))
        .await
        .unwrap();
    // A late failover taker must not run it again, nor bump the epoch.
    match h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-b")
        .await
    {
        Err(LedgerError::AlreadyCommitted { item, .. }) => assert_eq!(item, 0),
        other => panic!("expected AlreadyCommitted, got {other:?}"),
    }
    assert_eq!(
        h.ledger.current_epoch(&"eod".into(), d, 0).await.unwrap(),
        Some(epoch)
    );
    let shard = &h.ledger.shards(&run.run_id).await.unwrap()[0];
    assert_eq!(
        (shard.status, shard.instance.as_deref(), shard.attempts),
        (RunStatus::Succeeded, Some("node-a"), 1)
    );
}

async fn superseded_owner_cannot_mark_the_end(db: &TestDb) {
    let h = simple_harness(db, &[("eod", probe_job("eod", 1, ""))]).await;
    let run = h.runner.request(manual("eod", "2026-11-21")).await.unwrap();
    h.ledger
        .start_run_with_shards(&run.run_id, "node-a", &[0], None, None)
        .await
        .unwrap();
    let d = date("2026-11-21");
    let old = h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-a")
        .await
        .unwrap();
    let new = h
        .ledger
        .claim_shard(&run.run_id, &"eod".into(), d, 0, "node-b")
        .await
        .unwrap();
    let marked = h
        .ledger
        .end_shard_fenced(&run.run_id, 0, RunStatus::Failed, "late failure", Some(old))
        .await
        .unwrap();
    assert!(!marked, "the old owner's failure is not recorded");
    let shard = &h.ledger.shards(&run.run_id).await.unwrap()[0];
    assert_eq!(
        (shard.status, shard.instance.as_deref(), shard.epoch),
        (RunStatus::Running, Some("node-b"), Some(new))
    );
    let marked = h
        .ledger
        .end_shard_fenced(&run.run_id, 0, RunStatus::Failed, "real failure", Some(new))
        .await
        .unwrap();
    assert!(marked);
    assert_eq!(
        h.ledger.shards(&run.run_id).await.unwrap()[0].status,
        RunStatus::Failed
    );
}

#[test]
fn sharding_strategy_is_read_per_job_and_validated() {
    use reckon::catalog::{Catalog, CatalogError};
    use reckon::sharding::Strategy;
    let job = |name: &str, line: &str| {
        (
            std::path::PathBuf::from(format!("jobs/{name}.toml")),
            format!(
                "name = \"{name}\"\nkind = \"checksum\"\nshards = 4\n{line}\n[params]\nrows = 1\n"
            ),
        )
    };
    let catalog = Catalog::from_sources(
        &[job("a", ""), job("b", "sharding = \"round_robin\"")],
        &reckon::jobs::builtin(),
    )
    .unwrap();
    assert_eq!(catalog.get("a").unwrap().sharding, Strategy::Average);
    assert_eq!(catalog.get("b").unwrap().sharding, Strategy::RoundRobin);
    match Catalog::from_sources(
        &[job("c", "sharding = \"random\"")],
        &reckon::jobs::builtin(),
    ) {
        Err(CatalogError::Invalid(problems)) => {
            let text = problems[0].to_string();
            assert!(
                text.contains("sharding") && text.contains("`random` is not one of"),
                "{text}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
