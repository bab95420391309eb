//! The one connection: opening it (pragmas, migrations, leftovers), locking it, and running a
//! call in a transaction.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{BLOBS_DIR, DB_FILE, blobs, legacy, schema};
use crate::error::{Error, Result};

/// How long a statement waits for a lock held by *another* connection (a backup tool, the
/// `sqlite3` shell, a second process) before failing. In-process calls never wait here: the
/// mutex serialises them.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept by the connection: more than the store's ~70 distinct ones, so
/// every statement is compiled once.
const STATEMENT_CACHE: usize = 96;

/// Opens and prepares the connection; blocking (schema step 2 hashes every version-1 file).
/// `migrations` is a parameter so tests can pretend to be a later build.
pub(super) fn open_connection(dir: &Path, migrations: &[schema::Step]) -> Result<Connection> {
    let blobs_dir = dir.join(BLOBS_DIR);
    if !blobs_dir.is_dir() {
        std::fs::create_dir_all(&blobs_dir)?;
        // Its entry must be durable before any blob in it is promised to be.
        blobs::sync_dir(dir)?;
    }
    let mut conn = Connection::open(dir.join(DB_FILE))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some file systems (network mounts) cannot do WAL; the rollback journal SQLite kept
        // is as safe, only slower with concurrent readers.
        tracing::warn!(mode = %mode, "embedded store could not enable WAL");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    if schema::migrate(&mut conn, dir, migrations)? >= schema::BLOBS_VERSION {
        legacy::remove_leftovers(dir);
    }
    blobs::sweep_temporaries(&blobs_dir)?;
    Ok(conn)
}

/// Locks the connection. A poisoned lock means a call panicked while holding it; its
/// transaction was rolled back as the panic unwound (`Transaction`'s drop), so the connection
/// is consistent: this call fails with [`Error::Unavailable`] and the flag is cleared so that
/// later calls work.
pub(super) fn lock(conn: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>> {
    match conn.lock() {
        Ok(guard) => Ok(guard),
        Err(poisoned) => {
            drop(poisoned);
            conn.clear_poison();
            tracing::error!("embedded store connection poisoned by a panic; cleared");
            Err(Error::Unavailable)
        }
    }
}

/// Runs `f` in a transaction of the given kind and commits if it succeeds (dropping the
/// transaction on error rolls it back).
pub(super) fn in_transaction<T>(
    conn: &mut Connection,
    behavior: TransactionBehavior,
    f: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = conn.transaction_with_behavior(behavior)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}
