//! The server's configuration: defaults < TOML file (`--config FILE`) < `WEFT_*` environment
//! variables < command-line flags, merged with figment. Plain data and its checks; nothing
//! here opens a file other than the configuration itself.

use crate::ServerArgs;
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use utoipa::ToSchema;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7233";
/// Default largest request body, bytes (8 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// The whole configuration of a server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, `host:port` (default `127.0.0.1:7233`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Directory of the databases (`weft.redb`, `control.redb`), created if missing
    /// (default `./weft-data`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The admin key: reaches the admin routes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_key: Option<String>,
    /// Largest request body, bytes (default 8 MiB); larger requests answer 413.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Whether `weft describe`/`history`/`list`/`query --db` may read `weft.redb` while the
    /// server runs (default true). False locks the file to the server, and each commit syncs
    /// the disk once instead of twice.
    #[serde(default = "default_live_readers")]
    pub live_readers: bool,
    /// Host limits worth changing; unset ones keep weft's defaults.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Namespaces configured in the file (`[namespaces.<name>]`).
    #[serde(default)]
    pub namespaces: BTreeMap<String, NamespaceConfig>,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./weft-data")
}

fn default_live_readers() -> bool {
    true
}

fn default_max_request_bytes() -> usize {
    DEFAULT_MAX_REQUEST_BYTES
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            admin_key: None,
            max_request_bytes: default_max_request_bytes(),
            live_readers: default_live_readers(),
            limits: LimitsConfig::default(),
            namespaces: BTreeMap::new(),
        }
    }
}

/// A namespace of the configuration file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    /// Its quotas (replaced in the control database at every start).
    #[serde(default)]
    pub quotas: QuotasConfig,
    /// Its API keys (at least 16 characters each); hashed at startup, never stored.
    #[serde(default)]
    pub api_keys: Vec<String>,
}

/// Quotas of a namespace; unset ones leave the host's limit (see `weft::Quotas`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Quotas)]
pub struct QuotasConfig {
    /// Most open (running) workflows; a start past it answers 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_workflows: Option<u64>,
    /// Most events in one run's history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history_events: Option<u64>,
    /// Largest encoded history of one run, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history_bytes: Option<u64>,
    /// Largest payload, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<usize>,
    /// Workflow Tasks of the namespace run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_workflow_tasks: Option<usize>,
    /// Most history bytes stored for the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stored_bytes: Option<u64>,
}

impl QuotasConfig {
    /// The facade's quotas.
    pub fn to_quotas(&self) -> weft::Quotas {
        weft::Quotas {
            max_open_workflows: self.max_open_workflows,
            max_history_events: self.max_history_events,
            max_history_bytes: self.max_history_bytes,
            max_payload_bytes: self.max_payload_bytes,
            max_concurrent_workflow_tasks: self.max_concurrent_workflow_tasks,
            max_stored_bytes: self.max_stored_bytes,
        }
    }
}

/// The subset of `weft::Limits` the server exposes; unset fields keep weft's defaults.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest payload, bytes (default 2 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<usize>,
    /// Most events in one run's history (default 51,200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history_events: Option<u64>,
    /// Largest encoded history of one run, bytes (default 50 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history_bytes: Option<u64>,
    /// Wall-clock time of one Workflow Task, ms (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_task_time_ms: Option<u64>,
    /// Largest component accepted, bytes (default 32 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_component_bytes: Option<usize>,
    /// Workflow Tasks run at once by the host (default: number of CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_workflow_tasks: Option<usize>,
    /// Activities run at once by the host (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_activities: Option<usize>,
    /// Suspended instances kept in the sticky cache; 0 turns it off (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_cache_entries: Option<usize>,
}

impl LimitsConfig {
    /// weft's limits with these applied.
    pub fn to_limits(&self) -> weft::Limits {
        let mut l = weft::Limits::default();
        if let Some(v) = self.max_payload_bytes {
            l.max_payload_bytes = v;
        }
        if let Some(v) = self.max_history_events {
            l.max_history_events = v;
        }
        if let Some(v) = self.max_history_bytes {
            l.max_history_bytes = v;
        }
        if let Some(v) = self.max_task_time_ms {
            l.max_task_time = Duration::from_millis(v);
        }
        if let Some(v) = self.max_component_bytes {
            l.max_component_bytes = v;
        }
        if let Some(v) = self.max_concurrent_workflow_tasks {
            l.max_concurrent_workflow_tasks = v.max(1);
        }
        if let Some(v) = self.max_concurrent_activities {
            l.max_concurrent_activities = v.max(1);
        }
        if let Some(v) = self.sticky_cache_entries {
            l.sticky_cache_entries = v;
        }
        l
    }
}

/// Command-line values, merged last (only those given).
#[derive(Serialize)]
struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
}

/// Environment variables read (`WEFT_` + the upper-case field name).
const ENV_FIELDS: [&str; 5] = [
    "listen",
    "data_dir",
    "admin_key",
    "max_request_bytes",
    "live_readers",
];

impl ServerConfig {
    /// Merges defaults, the file of `args.config` (which must exist), `WEFT_LISTEN`,
    /// `WEFT_DATA_DIR`, `WEFT_ADMIN_KEY`, `WEFT_MAX_REQUEST_BYTES`, `WEFT_LIVE_READERS`, then
    /// the flags of `args`,
    /// and checks the result. Errors name the file and the field.
    pub fn load(args: &ServerArgs) -> anyhow::Result<ServerConfig> {
        let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
        if let Some(file) = &args.config {
            if !file.is_file() {
                bail!("configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment
            .merge(Env::prefixed("WEFT_").only(&ENV_FIELDS))
            .merge(Serialized::defaults(CliOverrides {
                listen: args.listen.clone(),
                data_dir: args.data_dir.clone(),
            }));
        let config: ServerConfig = figment.extract().map_err(|e| {
            let what = match &args.config {
                Some(f) => format!("invalid configuration (file {})", f.display()),
                None => "invalid configuration".to_string(),
            };
            anyhow::anyhow!("{what}: {}", figment_message(e))
        })?;
        config.check().with_context(|| match &args.config {
            Some(f) => format!("invalid configuration (file {})", f.display()),
            None => "invalid configuration".to_string(),
        })?;
        Ok(config)
    }

    /// Checks what serde cannot: namespace names, key lengths, a key bound twice.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.max_request_bytes == 0 {
            bail!("field max_request_bytes must be above 0");
        }
        if let Some(k) = &self.admin_key
            && k.len() < 16
        {
            bail!(
                "field admin_key has {} characters; use at least 16",
                k.len()
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (name, ns) in &self.namespaces {
            weft::Namespace::new(name).map_err(|e| anyhow::anyhow!("namespaces.{name}: {e}"))?;
            for key in &ns.api_keys {
                if key.len() < 16 {
                    bail!(
                        "field namespaces.{name}.api_keys: a key has {} characters; use at least 16",
                        key.len()
                    );
                }
                if !seen.insert(key.as_str()) || self.admin_key.as_deref() == Some(key) {
                    bail!(
                        "field namespaces.{name}.api_keys: a key is used twice (keys bind one namespace, and differ from the admin key)"
                    );
                }
            }
        }
        Ok(())
    }
}

/// All of a figment error's messages (it may carry several), each with its key and source.
fn figment_message(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let mut m = e.kind.to_string();
            if !e.path.is_empty() {
                m = format!("field {}: {m}", e.path.join("."));
            }
            if let Some(meta) = &e.metadata {
                match &meta.source {
                    Some(src) => m = format!("{m} (in {} {src})", meta.name),
                    None => m = format!("{m} (in {})", meta.name),
                }
            }
            m
        })
        .collect::<Vec<_>>()
        .join("; ")
}
