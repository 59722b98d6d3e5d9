//! `weft server`: a weft host behind an HTTP/JSON API (see `docs/http-api.md`), for tenants,
//! clients and workers in any language.
//!
//! [`run_blocking`] is what the `weft server` command runs; [`serve`] runs the server on a
//! listener of the caller's (tests bind port 0) until a future resolves. The modules:
//!
//! - `config`: [`ServerConfig`] (defaults < TOML file < `WEFT_*` env < flags).
//! - `control`: the control database (namespaces, key hashes, components, registrations).
//! - `state`: what handlers share; `auth`: keys and the namespace/admin extractors;
//!   `error`: the JSON errors.
//! - `api`: the routes, their OpenAPI document and middleware; `server`: start and stop.

pub mod api;
pub mod auth;
pub mod config;
pub mod control;
pub mod error;
mod server;
pub mod state;

pub use config::{LimitsConfig, NamespaceConfig, QuotasConfig, ServerConfig};
pub use server::{init_logging, run_blocking, serve};

use std::path::PathBuf;

/// Command-line arguments of `weft server`; each, when given, overrides the configuration file
/// and the environment.
#[derive(Clone, Debug, Default)]
pub struct ServerArgs {
    /// `--data-dir`: directory of the databases.
    pub data_dir: Option<PathBuf>,
    /// `--listen`: address to listen on, `host:port`.
    pub listen: Option<String>,
    /// `--config`: a TOML configuration file.
    pub config: Option<PathBuf>,
}
