//! The engine's backend conformance suite, run against the redb backend.

use std::path::PathBuf;
use std::sync::Arc;
use weft_engine::Backend;
use weft_engine::conformance::Harness;
use weft_store_redb::RedbBackend;

/// Databases in a temporary directory, one file per `create`.
struct Redb {
    dir: tempfile::TempDir,
    created: usize,
}

impl Redb {
    fn new() -> Redb {
        Redb {
            dir: tempfile::tempdir().unwrap(),
            created: 0,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(format!("db-{}.redb", self.created))
    }
}

impl Harness for Redb {
    fn create(&mut self) -> Arc<dyn Backend> {
        self.created += 1;
        Arc::new(RedbBackend::open(&self.path(), true).unwrap())
    }

    fn reopen(&mut self) -> Arc<dyn Backend> {
        Arc::new(RedbBackend::open(&self.path(), false).unwrap())
    }
}

weft_engine::conformance_tests!(Redb::new());
