//! The store as the rest of the host sees it: the engine's rules and types
//! (`weft-engine`) on a redb file (`weft-store-redb`), at the paths the host has always used.
//! [`Store`] wraps the engine's store only to keep `Store::open_shared` and `Store::open_existing`;
//! everything else is the engine's, reached through `Deref`. No rules and no tables here.

use crate::ids::Namespace;
use std::collections::HashMap;
use std::path::Path;
pub use weft_engine::*;
pub use weft_store_redb::ReadOnlyStore;

/// Handle to an open weft database file: the engine's [`weft_engine::Store`] on redb.
pub struct Store(weft_engine::Store);

impl Store {
    /// Opens `path`, creating an empty database if the file does not exist, shared with
    /// readers in other processes or not; see [`weft_store_redb::open_shared`].
    pub fn open_shared(
        path: impl AsRef<Path>,
        now_ms: u64,
        sharing: weft_store_redb::FileSharing,
    ) -> Result<Store, StoreError> {
        weft_store_redb::open_shared(path, now_ms, sharing).map(Store)
    }

    /// [`Store::open_shared`] for a database that must already exist; see
    /// [`weft_store_redb::open_existing`].
    pub fn open_existing(path: impl AsRef<Path>, now_ms: u64) -> Result<Store, StoreError> {
        weft_store_redb::open_existing(path, now_ms).map(Store)
    }

    /// The store on a database that lives in memory only (simulations, tests): nothing is
    /// written to disk. [`Store::reopen`] opens another store on the same database, as a
    /// restarted process would.
    pub fn in_memory(now_ms: u64) -> Result<Store, StoreError> {
        let backend = std::sync::Arc::new(weft_store_redb::RedbBackend::in_memory()?);
        weft_engine::Store::with_backend(backend, "(in memory)", now_ms).map(Store)
    }

    /// Another store on this one's database, as a process that starts after this one stopped
    /// sees it: leases held through this store are released.
    pub fn reopen(&self, now_ms: u64) -> Result<Store, StoreError> {
        weft_engine::Store::with_backend(self.0.backend(), self.0.path(), now_ms).map(Store)
    }

    /// The store with the limits it enforces; see [`weft_engine::Store::with_limits`].
    pub fn with_limits(
        self,
        default: NamespaceLimits,
        namespaces: HashMap<Namespace, NamespaceLimits>,
    ) -> Store {
        Store(self.0.with_limits(default, namespaces))
    }
}

impl std::ops::Deref for Store {
    type Target = weft_engine::Store;

    fn deref(&self) -> &weft_engine::Store {
        &self.0
    }
}
