//! SQLite in WAL mode: a transaction that reads before it writes must take
//! the write lock up front (`Db::begin_write`), or another connection's commit
//! in between makes its first write fail with a busy-snapshot error that no
//! busy timeout cures. The break register's finalize transactions do exactly
//! that read-then-write; this test pins the behaviour they rely on.

mod common;

use std::time::Duration;

use common::TestDb;
use reckon::db::{Db, DbTx};

async fn setup(db: &Db) {
    let Db::Sqlite(pool) = db else {
        panic!("SQLite test");
    };
    sqlx::query("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .execute(pool)
        .await
        .expect("create");
    sqlx::query("INSERT INTO counters VALUES (1, 0), (2, 0)")
        .execute(pool)
        .await
        .expect("seed");
}

/// Reads counter 1 in `tx`, lets another connection bump counter 2, then
/// writes counter 1 in `tx`.
async fn read_then_write(db: &Db, mut tx: DbTx) -> Result<(), sqlx::Error> {
    let DbTx::Sqlite(conn) = &mut tx else {
        panic!("SQLite test");
    };
    let (n,): (i64,) = sqlx::query_as("SELECT n FROM counters WHERE id = 1")
        .fetch_one(&mut **conn)
        .await?;
    let other = {
        let db = db.clone();
        tokio::spawn(async move {
            let Db::Sqlite(pool) = &db else {
                panic!("SQLite test");
            };
            sqlx::query("UPDATE counters SET n = n + 1 WHERE id = 2")
                .execute(pool)
                .await
        })
    };
    // Give the other connection time to commit (or to queue behind our lock).
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("UPDATE counters SET n = $1 WHERE id = 1")
        .bind(n + 1)
        .execute(&mut **conn)
        .await?;
    tx.commit().await?;
    other.await.expect("other task").map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_write_makes_read_then_write_safe() {
    let db = TestDb::sqlite().await;
    setup(&db.db).await;
    let tx = db.db.begin_write().await.expect("begin immediate");
    read_then_write(&db.db, tx).await.expect("no busy snapshot");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_read_then_write_fails_after_another_commit() {
    // Why begin_write exists: the deferred transaction's snapshot is stale.
    let db = TestDb::sqlite().await;
    setup(&db.db).await;
    let tx = db.db.begin().await.expect("begin");
    let error = read_then_write(&db.db, tx)
        .await
        .expect_err("a deferred read-then-write loses to the other commit");
    assert!(
        error.to_string().contains("locked") || error.to_string().contains("busy"),
        "{error}"
    );
    db.cleanup().await;
}
