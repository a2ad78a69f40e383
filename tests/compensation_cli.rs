//! `reckon txn` as an operator uses it, on both backends: list, show,
//! retry and resolve, with who and why in the action journal.

mod common;

use std::process::{Command, Output};

use common::TestDb;
use reckon::jobs::compensation::{self, NewMessage, store};
use reckon::on_db;

fn reckon(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args(["--database", &db.url])
        .args(args)
        .env_remove("RECKON_DATABASE_URL")
        .output()
        .expect("reckon runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

on_both_backends! {
    txn_commands => txn_commands;
}

async fn txn_commands(db: &TestDb) {
    for id in ["T1", "T2", "T3"] {
        let message = NewMessage {
            id: id.into(),
            txn_type: "order".into(),
            business_key: format!("O-{id}"),
            payload: r#"{"amount":"12.34"}"#.into(),
        };
        compensation::prepare(&db.db, &message, 1_000)
            .await
            .unwrap();
    }
    // T1 died in check-back; T3 was delivered.
    on_db!(&db.db, pool => {
        sqlx::query("UPDATE txn_messages SET state = 'dead', dead_from = 'prepared', check_count = 15 WHERE id = 'T1'")
            .execute(pool).await.unwrap();
        sqlx::query("UPDATE txn_messages SET state = 'delivered' WHERE id = 'T3'")
            .execute(pool).await.unwrap();
    });

    let list = reckon(db, &["txn", "list", "--state", "dead"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let lines: Vec<String> = text(&list.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].starts_with("T1 ") && lines[1].contains("12.34"),
        "{lines:?}"
    );

    let retry = reckon(
        db,
        &[
            "txn",
            "retry",
            "T1",
            "--reason",
            "order db back",
            "--by",
            "ops-li",
        ],
    );
    assert!(retry.status.success(), "{}", text(&retry.stderr));
    assert!(text(&retry.stdout).contains("T1 is prepared again"));

    let resolve = reckon(
        db,
        &[
            "txn",
            "resolve",
            "T2",
            "--commit",
            "--reason",
            "paid, bank slip 88",
            "--by",
            "ops-wu",
        ],
    );
    assert!(resolve.status.success(), "{}", text(&resolve.stderr));
    // A decided message is refused, exit 2, with the reason.
    let refused = reckon(db, &["txn", "resolve", "T3", "--rollback", "--reason", "x"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("already decided"),
        "{}",
        text(&refused.stderr)
    );
    // A reason is mandatory.
    let no_reason = reckon(db, &["txn", "retry", "T1"]);
    assert_eq!(no_reason.status.code(), Some(2));

    let t1 = store::get(&db.db, "T1").await.unwrap().unwrap();
    assert_eq!((t1.state.as_str(), t1.check_count), ("prepared", 0));
    let t2 = store::get(&db.db, "T2").await.unwrap().unwrap();
    assert_eq!(t2.state.as_str(), "committed");
    let journal: Vec<(String, String, String, String)> = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT message_id, action, actor, reason FROM txn_actions ORDER BY seq")
            .fetch_all(pool).await.unwrap()
    });
    let expected = [
        ("T1", "retry", "ops-li", "order db back"),
        ("T2", "resolve_commit", "ops-wu", "paid, bank slip 88"),
    ];
    let journal: Vec<(&str, &str, &str, &str)> = journal
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    assert_eq!(journal, expected);

    let show = reckon(db, &["txn", "show", "T1"]);
    assert!(show.status.success());
    let shown = text(&show.stdout);
    assert!(
        shown.contains("retry") && shown.contains("ops-li: order db back"),
        "{shown}"
    );
    let missing = reckon(db, &["txn", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
}
