//! Starting and stopping: opens the data directory, merges the namespaces of the
//! configuration and the control database, starts the weft host with every namespace served
//! by remote workers and every registered component, prints what it serves, runs axum until
//! the shutdown signal, then drains requests and shuts the host down.

use crate::ServerArgs;
use crate::api;
use crate::config::ServerConfig;
use crate::control::{ControlDb, NamespaceRecord};
use crate::state::{AppState, KeyEntry, now_ms, sha256};
use anyhow::{Context, bail};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use weft::HostBuilder;

/// The process-wide metrics handle: the Prometheus recorder is installed once (several
/// servers in one process, as in tests, share it).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ])
                .expect("bucket list is not empty");
            match builder.install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics shows nothing");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// Installs the stderr log subscriber (`RUST_LOG`, default `info`); a no-op when one is
/// installed.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Loads the configuration, then serves on its listen address until SIGTERM or Ctrl-C; then
/// stops accepting, lets requests in flight finish and shuts the host down. Returns Ok after
/// a clean stop.
pub fn run_blocking(args: ServerArgs) -> anyhow::Result<()> {
    init_logging();
    let config = ServerConfig::load(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        serve(config, listener, shutdown_signal()).await
    })
}

/// Resolves at SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}

/// What startup found, for the banner.
struct Started {
    state: Arc<AppState>,
    namespaces: Vec<String>,
    components: Vec<String>,
}

/// Opens the databases and starts the host (see the module doc).
async fn start(config: &ServerConfig, addr: SocketAddr) -> anyhow::Result<Started> {
    if config.admin_key.is_none() && !addr.ip().is_loopback() {
        bail!(
            "refusing to listen on {addr} without an admin key: set admin_key in the configuration or WEFT_ADMIN_KEY, or listen on a loopback address"
        );
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let control = Arc::new(ControlDb::open(&config.data_dir.join("control.redb"))?);

    // Namespaces: the control database's, with the configuration's quotas on top.
    let mut namespaces: BTreeMap<String, NamespaceRecord> =
        control.namespaces()?.into_iter().collect();
    let mut wanted: Vec<(String, crate::config::QuotasConfig)> = config
        .namespaces
        .iter()
        .map(|(n, c)| (n.clone(), c.quotas.clone()))
        .collect();
    if !config.namespaces.contains_key(weft::Namespace::DEFAULT)
        && !namespaces.contains_key(weft::Namespace::DEFAULT)
    {
        wanted.push((weft::Namespace::DEFAULT.to_string(), Default::default()));
    }
    for (name, quotas) in wanted {
        let rec = match namespaces.get(&name) {
            Some(r) if r.quotas == quotas => continue,
            Some(r) => NamespaceRecord {
                quotas,
                created_ms: r.created_ms,
            },
            None => NamespaceRecord {
                quotas,
                created_ms: now_ms(),
            },
        };
        control.put_namespace(&name, &rec)?;
        namespaces.insert(name, rec);
    }

    // Keys: stored ones of known namespaces, then the configuration's (hashed, not stored).
    let mut keys = HashMap::new();
    for (hash_hex, rec) in control.keys()? {
        let Some(hash) = hex::decode(&hash_hex)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
        else {
            tracing::warn!(
                key_id = rec.key_id,
                "control database: skipping a damaged key"
            );
            continue;
        };
        if namespaces.contains_key(&rec.namespace) {
            keys.insert(
                hash,
                KeyEntry {
                    namespace: rec.namespace,
                    key_id: rec.key_id,
                    label: rec.label,
                    created_ms: rec.created_ms,
                    from_config: false,
                },
            );
        }
    }
    let started_ms = now_ms();
    for (name, nc) in &config.namespaces {
        for key in &nc.api_keys {
            let hash = sha256(key.as_bytes());
            keys.insert(
                hash,
                KeyEntry {
                    namespace: name.clone(),
                    key_id: format!("config_{}", &hex::encode(hash)[..12]),
                    label: "configuration file".into(),
                    created_ms: started_ms,
                    from_config: true,
                },
            );
        }
    }
    let admin_hash = config.admin_key.as_ref().map(|k| sha256(k.as_bytes()));
    let open_mode = admin_hash.is_none() && keys.is_empty();

    // The host: every namespace served by remote workers, with its registered components.
    let mut builder = HostBuilder::new(config.data_dir.join("weft.redb"))
        .limits(config.limits.to_limits())
        .live_readers(config.live_readers)
        .compile_cache(config.data_dir.join("compiled"));
    let mut components = Vec::new();
    for (name, rec) in &namespaces {
        let mut regs = Vec::new();
        for (ty, reg) in control.registrations(name)? {
            // Earlier versions first, so the newest stays the newest.
            for digest in reg.earlier.iter().chain([&reg.digest]) {
                let bytes = control.component(digest)?.with_context(|| {
                    format!("control database: component {digest} of {name}/{ty} is missing")
                })?;
                regs.push((ty.clone(), bytes));
            }
            let older = match reg.earlier.len() {
                0 => String::new(),
                n => format!(", {n} earlier versions"),
            };
            components.push(format!(
                "{name}/{ty} {} ({} bytes{older})",
                reg.digest, reg.size
            ));
        }
        let quotas = rec.quotas.to_quotas();
        builder = builder.namespace(name, move |ns| {
            let mut ns = ns.quotas(quotas).remote_activities();
            for (ty, bytes) in regs {
                ns = ns.workflow_bytes(&ty, bytes);
            }
            ns
        });
    }
    let host = builder.start().await.with_context(|| {
        format!(
            "cannot start the weft host on {}",
            config.data_dir.join("weft.redb").display()
        )
    })?;

    let (stop_tx, stopping) = watch::channel(false);
    // The sender lives as long as the state: `serve` flips it through `stop`.
    let state = Arc::new(AppState {
        host: Arc::new(host),
        control,
        keys: RwLock::new(keys),
        admin_hash,
        open_mode,
        stopping,
        stop: stop_tx,
        metrics: metrics_handle(),
        admin_lock: tokio::sync::Mutex::new(()),
    });
    Ok(Started {
        state,
        namespaces: namespaces.into_keys().collect(),
        components,
    })
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting, lets
/// requests in flight finish (long polls and event streams end early), and shuts the host
/// down cleanly. Prints `listening on http://ADDR` (the bound address) on stdout first.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let Started {
        state,
        namespaces,
        components,
    } = start(&config, addr).await?;
    println!("weft server {}", env!("CARGO_PKG_VERSION"));
    println!("listening on http://{addr}");
    println!("data dir: {}", config.data_dir.display());
    println!("namespaces: {}", namespaces.join(", "));
    if components.is_empty() {
        println!("components: none registered");
    } else {
        println!("components:");
        for c in &components {
            println!("  {c}");
        }
    }
    if state.open_mode {
        println!(
            "WARNING: open development mode: no key is configured, so requests without a key reach namespace default and the admin routes"
        );
        tracing::warn!("open development mode: requests without a key are accepted");
    }
    tracing::info!(%addr, "weft server listening");

    let app = api::router(
        state.clone(),
        config.max_request_bytes,
        config.limits.to_limits().max_component_bytes,
    );
    let st = state.clone();
    let graceful = async move {
        shutdown.await;
        st.stop.send_replace(true);
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(graceful)
        .await;
    state.stop.send_replace(true);
    tracing::info!("HTTP server stopped; shutting the host down");

    // Handlers are done; background update tasks hold clients, not the host.
    let host = state.host.clone();
    drop(state);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&host) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match Arc::try_unwrap(host) {
        Ok(host) => host.shutdown().await,
        Err(_) => tracing::warn!("the host is still in use; it stops when dropped"),
    }
    served.context("the HTTP server failed")?;
    println!("weft server stopped");
    Ok(())
}
