//! Database pools and migrations for the two supported stores: embedded SQLite
//! (`sqlite://…`, the default) and PostgreSQL (`postgres://…`, for a cluster).
//!
//! Only this module and [`crate::ledger`] (plus job kinds writing their own
//! outputs through a [`DbTx`]) know sqlx. Queries are written once and run on
//! either backend through [`on_db!`] / [`on_tx!`]: SQL text uses `$N`
//! placeholders, which both backends accept.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;
/// Upper bound on pooled connections per process.
const POOL_CONNECTIONS_MAX: u32 = 16;

/// Errors opening or migrating the store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open database `{url}`")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply database migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

/// Which backend a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool on one of the supported backends.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on one of the supported backends.
pub enum DbTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the concrete pool of a [`Db`].
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the concrete connection of a [`DbTx`]
/// (use it as `&mut **$conn`).
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::DbTx::Sqlite($conn) => $body,
            $crate::db::DbTx::Postgres($conn) => $body,
        }
    };
}

/// How long a connection may wait on others, so that a paused or cut-off
/// holder of a lock cannot block its replacement for longer than a cluster
/// session timeout (issue 13):
/// - PostgreSQL: `lock_timeout` (a waiter gives up), `idle_in_transaction_session_timeout`
///   (the server ends the session of a holder that stopped talking mid-transaction,
///   releasing its row locks: a SIGSTOPped node) and `statement_timeout` (runaway
///   statements), set per connection at connect time.
/// - SQLite: the busy timeout (a waiter for the write lock gives up).
///
/// PostgreSQL documents all three as session settings
/// (<https://www.postgresql.org/docs/current/runtime-config-client.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbTimeouts {
    pub lock: Duration,
    pub idle_in_transaction: Duration,
    pub statement: Duration,
}

/// Statements longer than this are cancelled (the largest recon joins take seconds).
pub const STATEMENT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(600);

impl DbTimeouts {
    /// Lock and idle-in-transaction waits bounded by `session` (the cluster's
    /// session timeout); statements by [`STATEMENT_TIMEOUT_DEFAULT`].
    pub fn bounded_by(session: Duration) -> DbTimeouts {
        let session = session.max(Duration::from_millis(500));
        DbTimeouts {
            lock: session,
            idle_in_transaction: session,
            statement: STATEMENT_TIMEOUT_DEFAULT.max(session),
        }
    }
}

impl Default for DbTimeouts {
    fn default() -> Self {
        DbTimeouts {
            lock: Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS),
            idle_in_transaction: Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS),
            statement: STATEMENT_TIMEOUT_DEFAULT,
        }
    }
}

impl Db {
    /// Opens (creating a SQLite file when missing) the store at `url`.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        Db::connect_with(url, DbTimeouts::default()).await
    }

    /// Opens the store at `url` with `timeouts` on every connection.
    pub async fn connect_with(url: &str, timeouts: DbTimeouts) -> Result<Db, DbError> {
        let connect_err = |source| DbError::Connect {
            url: redact(url),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_err)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(timeouts.lock);
            let pool = SqlitePoolOptions::new()
                .max_connections(POOL_CONNECTIONS_MAX)
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let ms = |d: Duration| format!("{}ms", d.as_millis());
            let options = PgConnectOptions::from_str(url)
                .map_err(connect_err)?
                .options([
                    ("lock_timeout", ms(timeouts.lock)),
                    (
                        "idle_in_transaction_session_timeout",
                        ms(timeouts.idle_in_transaction),
                    ),
                    ("statement_timeout", ms(timeouts.statement)),
                    // Key lists go in as one array parameter (`= ANY($1)`).
                    // A cached generic plan cannot see the array: after five
                    // runs of a statement on a connection PostgreSQL may
                    // switch to one, and with statistics from before a night's
                    // bulk writes it scans the table comparing every row with
                    // every key (found at 1 M loans: one repayment delete ran
                    // for minutes). A custom plan sees the array's length and
                    // hashes it in a scan.
                    ("plan_cache_mode", "force_custom_plan".to_string()),
                ]);
            let pool = PgPoolOptions::new()
                .max_connections(POOL_CONNECTIONS_MAX)
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Db::Postgres(pool))
        } else {
            Err(DbError::UnsupportedUrl(redact(url)))
        }
    }

    /// Opens the store and brings its schema up to date.
    pub async fn connect_and_migrate(url: &str) -> Result<Db, DbError> {
        Db::connect_and_migrate_with(url, DbTimeouts::default()).await
    }

    /// [`Db::connect_and_migrate`] with `timeouts` on every connection.
    pub async fn connect_and_migrate_with(url: &str, timeouts: DbTimeouts) -> Result<Db, DbError> {
        let db = Db::connect_with(url, timeouts).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies the migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The backend behind this pool.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<DbTx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => DbTx::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => DbTx::Postgres(pool.begin().await?),
        })
    }

    /// Starts a transaction that will write after reading: on SQLite it takes
    /// the write lock up front (`BEGIN IMMEDIATE`), so a write after a read
    /// cannot fail on a snapshot another connection moved on from (WAL).
    pub async fn begin_write(&self) -> Result<DbTx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => DbTx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => DbTx::Postgres(pool.begin().await?),
        })
    }

    /// One round trip (`SELECT 1`): the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

impl DbTx {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        on_tx!(self, tx => tx.commit().await)
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        on_tx!(self, tx => tx.rollback().await)
    }
}

/// Hides a password in a database URL before it is shown to anyone.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// True when `err` is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db_err) => db_err.is_unique_violation(),
        _ => false,
    }
}

/// True when `err` means the database was out of reach rather than that
/// it refused the statement: the connection broke or could not be made
/// (a server restart, a network cut), the pool timed out, or PostgreSQL
/// ended the session (SQLSTATE class 08 connection exception, 57P01–57P03
/// admin/crash shutdown, cannot connect now — PostgreSQL manual, Appendix A).
/// Retrying the same work later is right; failing it is not.
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db_err) => db_err.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact("sqlite://reckon.db"), "sqlite://reckon.db");
    }
}
