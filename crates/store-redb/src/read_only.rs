//! `ReadOnlyStore`: reading a database file another process may be writing, through a
//! recovered private copy when the file needs what only a writer does. Never writes the file.

use super::*;
use crate::tx::RedbRead;

/// Read-only access for the CLI while a host may be writing. It never writes the file: one
/// that needs crash recovery or a schema upgrade (which only a writer does in place) is read
/// through a private copy, recovered and upgraded as a host would, in the temporary directory.
pub struct ReadOnlyStore {
    pub(super) db: redb::ReadOnlyDatabase,
    /// The recovered copy `db` reads, if any (dropped after `db`).
    pub(super) copy: Option<RecoveredCopy>,
}

/// How often a read-only open copies a file that changes while it is copied.
pub(super) const COPY_ATTEMPTS: usize = 3;

/// A private copy of a database file, removed when dropped.
pub(super) struct RecoveredCopy {
    pub(super) path: PathBuf,
    /// Why the file itself could not be read.
    pub(super) why: &'static str,
}

impl Drop for RecoveredCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a read-only open found in place.
pub(super) enum InPlace {
    Readable(redb::ReadOnlyDatabase),
    /// Needs what only a writer does; the reason.
    NeedsWriter(&'static str),
}

/// Length and modification time: whether a file changed meanwhile.
pub(super) fn stamp(path: &Path) -> std::io::Result<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path)?;
    Ok((m.len(), m.modified()?))
}

impl ReadOnlyStore {
    /// Opens `path` for reading without ever writing it. Refuses a missing or empty file
    /// ([`StoreError::NoDatabase`]), files of a newer schema and files that are not weft
    /// databases. A file left unclean by a crash, or written by an earlier release, is read
    /// through a recovered copy (see [`ReadOnlyStore::copy_reason`]).
    pub fn open(path: impl AsRef<Path>) -> Result<ReadOnlyStore, StoreError> {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(m) if m.len() > 0 => {}
            Ok(_) => return Err(no_database(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_database(path)),
            // redb reports it (permissions, ...).
            Err(_) => {}
        }
        let mut reason = String::new();
        for _ in 0..COPY_ATTEMPTS {
            let why = match ReadOnlyStore::open_in_place(path)? {
                InPlace::Readable(db) => return Ok(ReadOnlyStore { db, copy: None }),
                InPlace::NeedsWriter(why) => why,
            };
            match ReadOnlyStore::copy_to_temp(path, why) {
                Ok(Some(copy)) => return ReadOnlyStore::open_recovered(path, copy),
                // A writer started on it meanwhile: read it in place again.
                Ok(None) => reason = "the file changed while it was copied".into(),
                Err(io) => {
                    reason = io;
                    break;
                }
            }
        }
        Err(StoreError::NeedsRecovery {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Why the file was read through a recovered copy ("was not closed cleanly", "is of an
    /// older schema"); `None` when it was read in place.
    pub fn copy_reason(&self) -> Option<&'static str> {
        self.copy.as_ref().map(|c| c.why)
    }

    pub(super) fn open_in_place(path: &Path) -> Result<InPlace, StoreError> {
        let db = match builder().open_read_only(path) {
            Err(redb::DatabaseError::RepairAborted) => {
                return Ok(InPlace::NeedsWriter("was not closed cleanly"));
            }
            other => other.map_err(|e| open_error(path, e))?,
        };
        let tx = db.begin_read().map_err(db_error)?;
        let meta = tx.open_table(META).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("no weft schema table ({e})"),
        })?;
        let found = meta
            .get("schema_version")
            .map_err(db_error)?
            .map(|v| v.value());
        check_schema(path, found)?;
        drop(meta);
        drop(tx);
        if found != Some(SCHEMA_VERSION) {
            return Ok(InPlace::NeedsWriter("is of an older schema"));
        }
        Ok(InPlace::Readable(db))
    }

    /// A copy of `path` in the temporary directory; `None` if the file changed meanwhile,
    /// `Err` saying why no copy could be made.
    pub(super) fn copy_to_temp(
        path: &Path,
        why: &'static str,
    ) -> Result<Option<RecoveredCopy>, String> {
        let io = |e: std::io::Error| e.to_string();
        let before = stamp(path).map_err(io)?;
        let copy = RecoveredCopy {
            path: std::env::temp_dir().join(format!(
                "weft-read-{}-{:016x}.redb",
                std::process::id(),
                rand::random::<u64>()
            )),
            why,
        };
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&copy.path)
            .map_err(|e| format!("cannot create {}: {e}", copy.path.display()))?;
        let mut from = std::fs::File::open(path).map_err(io)?;
        std::io::copy(&mut from, &mut to)
            .map_err(|e| format!("cannot copy it to {}: {e}", copy.path.display()))?;
        drop(to);
        if stamp(path).map_err(io)? != before {
            return Ok(None);
        }
        Ok(Some(copy))
    }

    /// Recovers and upgrades `copy` of `path` as a host would, and opens it for reading.
    pub(super) fn open_recovered(
        path: &Path,
        copy: RecoveredCopy,
    ) -> Result<ReadOnlyStore, StoreError> {
        let as_file = |e: StoreError| match e {
            StoreError::Corrupt { reason, .. } => StoreError::Corrupt {
                path: path.to_path_buf(),
                reason,
            },
            StoreError::NewerSchema {
                found, supported, ..
            } => StoreError::NewerSchema {
                path: path.to_path_buf(),
                found,
                supported,
            },
            other => other,
        };
        crate::open(&copy.path, 0).map_err(as_file)?.close();
        let db = builder()
            .open_read_only(&copy.path)
            .map_err(|e| as_file(open_error(&copy.path, e)))?;
        Ok(ReadOnlyStore {
            db,
            copy: Some(copy),
        })
    }

    /// The current run of workflow `id` in `namespace`, its record and its history.
    pub fn workflow(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
    ) -> Result<(RunId, RunRecord, Vec<Event>), StoreError> {
        self.read(|tx| {
            let (run, rec) = current_run_of(tx, namespace, id)?;
            Ok((run, rec, tx.events(run)?))
        })
    }

    /// The record of `run`.
    pub fn run(&self, run: RunId) -> Result<RunRecord, StoreError> {
        self.read(|tx| run_of(tx, run))
    }

    /// The current run of workflow `id` in `namespace` and its record, without its history.
    pub fn current_run(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
    ) -> Result<(RunId, RunRecord), StoreError> {
        self.read(|tx| current_run_of(tx, namespace, id))
    }

    /// Every workflow of `namespace` (all namespaces if `None`) with its current run's
    /// record.
    pub fn list(
        &self,
        namespace: Option<&Namespace>,
    ) -> Result<Vec<(WorkflowId, RunId, RunRecord)>, StoreError> {
        self.read(|tx| {
            tx.workflows(namespace)?
                .into_iter()
                .map(|(id, run)| Ok((id, run, run_of(tx, run)?)))
                .collect()
        })
    }

    /// Runs `f` on one read transaction of the file.
    fn read<R>(
        &self,
        f: impl FnOnce(&dyn ReadTx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let tx = self.db.begin_read().map_err(db_error)?;
        f(&RedbRead::open(&tx)?)
    }
}
