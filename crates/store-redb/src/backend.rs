//! `RedbBackend`: a redb database file as a [`Backend`]. Opening (creating a new file, refusing
//! a foreign or newer one, migrating schema 1), closing while others still hold the store,
//! and running each transaction on the tables of [`RedbTx`] and [`RedbRead`]. No rules.

use super::*;
use crate::tx::{RedbRead, RedbTx};

/// The writer's redb handle. [`Store::close`] closes it even while others still share the
/// `Store` (a host's tasks, or a client captured by a handler the host owns), so a
/// shut-down host leaves a file that needs no recovery. Transactions begun before the close
/// finish normally (redb defers the close past a live write transaction); later ones fail with
/// [`StoreError::Closed`].
pub(super) struct Db {
    pub(super) handle: std::sync::Mutex<Option<std::sync::Arc<redb::Database>>>,
    pub(super) path: PathBuf,
}

impl Db {
    pub(super) fn new(db: redb::Database, path: &Path) -> Db {
        Db {
            handle: std::sync::Mutex::new(Some(std::sync::Arc::new(db))),
            path: path.to_path_buf(),
        }
    }

    /// The open database; the lock is held only to clone the handle, never across a
    /// transaction.
    pub(super) fn get(&self) -> Result<std::sync::Arc<redb::Database>, StoreError> {
        self.handle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Closed(self.path.clone()))
    }

    pub(super) fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.get()?.begin_write().map_err(db_error)
    }

    pub(super) fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.get()?.begin_read().map_err(db_error)
    }

    /// Closes the database: now if nothing else uses the handle, otherwise as soon as the
    /// last transaction begun before the close ends. Idempotent.
    pub(super) fn close(&self) {
        let taken = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        // A thread inside `begin_*` holds a clone for that call only; it closes the database
        // when it drops it.
        if let Some(Ok(db)) = taken.map(std::sync::Arc::try_unwrap) {
            match db.close() {
                Ok(()) => tracing::info!(db = %self.path.display(), "database closed"),
                Err(redb::DatabaseError::TransactionInProgress) => tracing::info!(
                    db = %self.path.display(),
                    "database closes when its last write transaction ends"
                ),
                Err(e) => tracing::warn!(db = %self.path.display(), "closing the database: {e}"),
            }
        }
    }
}

/// [`StoreError::NoDatabase`] for a missing or empty `path`.
pub(super) fn no_database(path: &Path) -> StoreError {
    StoreError::NoDatabase {
        path: path.to_path_buf(),
        reason: if path.exists() {
            "the file is empty"
        } else {
            "no such file"
        },
    }
}

pub(super) fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
        other => StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

pub(super) fn builder() -> redb::Builder {
    builder_for(FileSharing::LiveReaders)
}

/// Whether other processes may read the database file while a host writes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FileSharing {
    /// One process writes; others (`weft describe`, `history`, `list`, `query`) may read it
    /// at the same time. redb then syncs twice per commit (before and after the header swap),
    /// so a reader in another process never follows a page not yet on disk. The default.
    #[default]
    LiveReaders,
    /// The writer locks the whole file: no other process opens it (a reader is refused with
    /// [`StoreError::InUse`]), and each commit syncs once.
    Exclusive,
}

pub(super) fn builder_for(sharing: FileSharing) -> redb::Builder {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(match sharing {
        FileSharing::LiveReaders => redb::ConcurrencyMode::SingleWriter,
        FileSharing::Exclusive => redb::ConcurrencyMode::ExclusiveWriter,
    });
    b
}

pub(super) fn check_schema(path: &Path, found: Option<u64>) -> Result<(), StoreError> {
    match found {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            supported: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

/// A redb database file as a [`Backend`].
pub struct RedbBackend {
    db: Db,
}

impl RedbBackend {
    /// Opens `path` (creating it if `create` and it does not exist), checks its schema and
    /// migrates an older one, and makes sure every table exists.
    pub fn open(path: &Path, create: bool) -> Result<RedbBackend, StoreError> {
        RedbBackend::open_shared(path, create, FileSharing::LiveReaders)
    }

    /// [`RedbBackend::open`], with the file shared with readers in other processes or not.
    pub fn open_shared(
        path: &Path,
        create: bool,
        sharing: FileSharing,
    ) -> Result<RedbBackend, StoreError> {
        let existed = path.exists()
            && std::fs::metadata(path)
                .map(|m| m.len() > 0)
                .unwrap_or(false);
        if !existed && !create {
            return Err(no_database(path));
        }
        // Never `create` an existing file: a file emptied meanwhile is refused, not initialized.
        let db = if existed {
            builder_for(sharing).open(path)
        } else {
            builder_for(sharing).create(path)
        }
        .map_err(|e| open_error(path, e))?;
        RedbBackend::init(db, path, existed)
    }

    /// A database that lives in memory only, for simulations and tests: the same tables and
    /// transactions as a file, without the disk. Gone when the last handle is dropped.
    pub fn in_memory() -> Result<RedbBackend, StoreError> {
        let path = Path::new("(in memory)");
        // No file to lock: the single-writer mode's lock is not needed (nor supported).
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| open_error(path, e))?;
        RedbBackend::init(db, path, false)
    }

    /// Checks the schema of the opened `db`, migrates an older one and creates every table.
    fn init(db: redb::Database, path: &Path, existed: bool) -> Result<RedbBackend, StoreError> {
        let backend = RedbBackend {
            db: Db::new(db, path),
        };
        let tx = backend.db.begin_write()?;
        {
            let mut meta = tx.open_table(META).map_err(db_error)?;
            let found = meta
                .get("schema_version")
                .map_err(db_error)?
                .map(|v| v.value());
            check_schema(path, found)?;
            match found {
                None => {
                    if existed && tx.list_tables().map_err(db_error)?.count() > 1 {
                        return Err(StoreError::Corrupt {
                            path: path.to_path_buf(),
                            reason: "it has tables but no weft schema version".into(),
                        });
                    }
                }
                Some(1) => migrate_v1(&tx)?,
                Some(_) => {}
            }
            meta.insert("schema_version", SCHEMA_VERSION)
                .map_err(db_error)?;
            // Every table exists from now on: read transactions open them all.
            RedbTx::open(&tx)?.create_tables()?;
        }
        tx.commit().map_err(db_error)?;
        Ok(backend)
    }
}

/// A redb write transaction shared by the writes of one group commit.
struct RedbBatch {
    tx: redb::WriteTransaction,
    writes: u64,
}

impl Batch for RedbBatch {
    fn run(&mut self, f: &mut WriteFn<'_>) -> Result<(), JobFailed> {
        let mut tables = RedbTx::open(&self.tx).map_err(|error| JobFailed {
            error,
            wrote: false,
        })?;
        let result = f(&mut tables);
        let wrote = tables.wrote;
        // Closing the tables records their new roots in the transaction.
        drop(tables);
        result.map_err(|error| JobFailed { error, wrote })?;
        self.writes += 1;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let commit = std::time::Instant::now();
        self.tx.commit().map_err(db_error)?;
        // The commit is where the writes reach the disk (redb syncs them before returning).
        metrics::histogram!("weft_commit_seconds").record(commit.elapsed().as_secs_f64());
        metrics::histogram!("weft_commit_writes").record(self.writes as f64);
        Ok(())
    }
}

impl Backend for RedbBackend {
    fn begin(&self) -> Result<Box<dyn Batch>, StoreError> {
        Ok(Box::new(RedbBatch {
            tx: self.db.begin_write()?,
            writes: 0,
        }))
    }

    fn read(&self, f: &mut ReadFn<'_>) -> Result<(), StoreError> {
        let tx = self.db.begin_read()?;
        f(&RedbRead::open(&tx)?)
    }

    fn close(&self) {
        self.db.close();
    }
}
