//! The control database (`<data_dir>/control.redb`): what the server itself keeps, apart from
//! the histories: namespaces and their quotas, API key hashes, component bytes
//! (content-addressed) and which component each workflow type of a namespace runs.

use crate::config::QuotasConfig;
use anyhow::Context;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Namespace name → JSON [`NamespaceRecord`].
const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");
/// SHA-256 hex of a key → JSON [`KeyRecord`].
const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
/// `sha256:<hex>` → component bytes.
const COMPONENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("components");
/// (namespace, workflow type) → JSON [`Registration`].
const REGISTRATIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("registrations");

/// A namespace as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NamespaceRecord {
    /// Its quotas.
    pub quotas: QuotasConfig,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
}

/// An API key as stored (the key itself never is).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The namespace it reaches.
    pub namespace: String,
    /// Its public id (for listing and revoking).
    pub key_id: String,
    /// The label given at creation.
    pub label: String,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
}

/// The newest registration of a workflow type in a namespace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registration {
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// Its size, bytes.
    pub size: u64,
    /// When it was registered, ms since the epoch.
    pub registered_ms: u64,
    /// Digests of the type's earlier versions, oldest first: the host gets them all at every
    /// start, so runs pinned to them keep running them.
    #[serde(default)]
    pub earlier: Vec<String>,
}

/// Handle to the control database.
pub struct ControlDb {
    db: Database,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

fn parse<T: for<'a> Deserialize<'a>>(what: &str, bytes: &[u8]) -> anyhow::Result<T> {
    serde_json::from_slice(bytes).with_context(|| format!("control database: damaged {what}"))
}

impl ControlDb {
    /// Opens (or creates) the control database at `path`, with all its tables.
    pub fn open(path: &Path) -> anyhow::Result<ControlDb> {
        let db = Database::create(path)
            .with_context(|| format!("cannot open the control database {}", path.display()))?;
        let tx = db.begin_write()?;
        tx.open_table(NAMESPACES)?;
        tx.open_table(API_KEYS)?;
        tx.open_table(COMPONENTS)?;
        tx.open_table(REGISTRATIONS)?;
        tx.commit()?;
        Ok(ControlDb { db })
    }

    /// Every namespace, by name.
    pub fn namespaces(&self) -> anyhow::Result<Vec<(String, NamespaceRecord)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(NAMESPACES)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), parse("namespace", v.value())?));
        }
        Ok(out)
    }

    /// Namespace `name`, if stored.
    pub fn namespace(&self, name: &str) -> anyhow::Result<Option<NamespaceRecord>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(NAMESPACES)?;
        let v = t.get(name)?;
        v.map(|v| parse("namespace", v.value())).transpose()
    }

    /// Stores (or replaces) namespace `name`.
    pub fn put_namespace(&self, name: &str, rec: &NamespaceRecord) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(NAMESPACES)?
            .insert(name, json(rec).as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Removes namespace `name` with its keys and registrations (component bytes stay: other
    /// namespaces may use them).
    pub fn remove_namespace(&self, name: &str) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(NAMESPACES)?.remove(name)?;
        {
            let mut keys = tx.open_table(API_KEYS)?;
            let mut doomed = Vec::new();
            for row in keys.iter()? {
                let (k, v) = row?;
                let rec: KeyRecord = parse("key", v.value())?;
                if rec.namespace == name {
                    doomed.push(k.value().to_string());
                }
            }
            for k in doomed {
                keys.remove(k.as_str())?;
            }
            let mut regs = tx.open_table(REGISTRATIONS)?;
            let mut doomed = Vec::new();
            for row in regs.range((name, "")..)? {
                let (k, _) = row?;
                let (ns, ty) = k.value();
                if ns != name {
                    break;
                }
                doomed.push(ty.to_string());
            }
            for ty in doomed {
                regs.remove((name, ty.as_str()))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored key: (SHA-256 hex, record).
    pub fn keys(&self) -> anyhow::Result<Vec<(String, KeyRecord)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(API_KEYS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), parse("key", v.value())?));
        }
        Ok(out)
    }

    /// Stores a key by its hash.
    pub fn put_key(&self, hash_hex: &str, rec: &KeyRecord) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(API_KEYS)?
            .insert(hash_hex, json(rec).as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Removes the key stored under `hash_hex`.
    pub fn remove_key(&self, hash_hex: &str) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(API_KEYS)?.remove(hash_hex)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores component `bytes` under `digest` and records it as the component of
    /// `workflow_type` in `namespace`, in one transaction.
    pub fn register(
        &self,
        namespace: &str,
        workflow_type: &str,
        digest: &str,
        bytes: &[u8],
        registered_ms: u64,
    ) -> anyhow::Result<Registration> {
        let tx = self.db.begin_write()?;
        let reg;
        {
            let mut components = tx.open_table(COMPONENTS)?;
            if components.get(digest)?.is_none() {
                components.insert(digest, bytes)?;
            }
            let mut regs = tx.open_table(REGISTRATIONS)?;
            let mut earlier = match regs.get((namespace, workflow_type))? {
                Some(v) => {
                    let old: Registration = parse("registration", v.value())?;
                    let mut earlier = old.earlier;
                    earlier.push(old.digest);
                    earlier
                }
                None => Vec::new(),
            };
            earlier.retain(|d| d != digest);
            reg = Registration {
                digest: digest.to_string(),
                size: bytes.len() as u64,
                registered_ms,
                earlier,
            };
            regs.insert((namespace, workflow_type), json(&reg).as_slice())?;
        }
        tx.commit()?;
        Ok(reg)
    }

    /// The registrations of `namespace`, by workflow type.
    pub fn registrations(&self, namespace: &str) -> anyhow::Result<Vec<(String, Registration)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(REGISTRATIONS)?;
        let mut out = Vec::new();
        for row in t.range((namespace, "")..)? {
            let (k, v) = row?;
            let (ns, ty) = k.value();
            if ns != namespace {
                break;
            }
            out.push((ty.to_string(), parse("registration", v.value())?));
        }
        Ok(out)
    }

    /// The bytes of component `digest`.
    pub fn component(&self, digest: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(COMPONENTS)?;
        Ok(t.get(digest)?.map(|v| v.value().to_vec()))
    }
}
