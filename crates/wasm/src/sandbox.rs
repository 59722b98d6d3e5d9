//! The wasmtime sandbox: engine configuration, component admission, the deterministic WASI a
//! workflow sees, and per-task resource limits.
//!
//! A workflow gets no real clock, randomness, file system, network or environment: clocks read
//! workflow time from the history, random bytes come from the run's recorded seed, stdout and
//! stderr go to the host's log (not repeated during replay), there are no preopened
//! directories, sockets that refuse every call and an empty environment. A component importing
//! anything outside [`ALLOWED_IMPORTS`] is refused when it is registered. This module does not interpret the
//! history; `replay` does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use weft_core::limits::Limits;
use weft_replay::{GuestLog, Replay, SeededRng};

/// Host bindings generated from `wit/`.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "workflow",
        // `wait-any` is where a cached instance suspends: an async host function, so the
        // instance's fiber is parked instead of a thread. Calls are async accordingly.
        imports: {
            "weft:workflow/host.wait-any": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}

/// Interfaces a workflow component may import. Anything else is refused at registration.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "weft:workflow/types",
    "weft:workflow/host",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    // Linked deny-all: runtimes such as CPython import them; every call fails (access denied).
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// A component refused at registration, or a failure to set up the engine.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The file could not be read.
    #[error("cannot read workflow component {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component.
    #[error("workflow type {workflow_type}: not a valid WebAssembly component: {reason}")]
    Invalid {
        /// Type being registered.
        workflow_type: String,
        /// What wasmtime reported.
        reason: String,
    },
    /// The component is larger than allowed.
    #[error("workflow type {workflow_type}: component is {size} bytes, above the limit of {limit}")]
    TooLarge {
        /// Type being registered.
        workflow_type: String,
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The component imports something a workflow may not use.
    #[error(
        "workflow type {workflow_type}: component imports `{import}`, which workflows may not use (workflows get no network, real clock, file system or environment; use activities for side effects)"
    )]
    ForbiddenImport {
        /// Type being registered.
        workflow_type: String,
        /// The import.
        import: String,
    },
    /// The component does not export the workflow world.
    #[error(
        "workflow type {workflow_type}: component does not implement the weft:workflow/workflow world: {reason}"
    )]
    WrongWorld {
        /// Type being registered.
        workflow_type: String,
        /// Details.
        reason: String,
    },
}

/// The shared wasmtime engine and linker. Compile each component once with
/// [`Sandbox::compile`]; instantiate it per task from the returned [`CompiledWorkflow`].
pub struct Sandbox {
    engine: Engine,
    linker: Linker<TaskState>,
    limits: Limits,
    stop_ticker: Arc<AtomicBool>,
    cache: Option<crate::compile_cache::CompileCache>,
}

/// Bytes one `get-random-bytes` (or insecure) call may ask for; more traps the guest.
pub const MAX_RANDOM_BYTES_PER_CALL: u64 = 1 << 20;

/// Stack left to the host functions a guest calls, beyond the guest's own stack.
pub const HOST_STACK_BYTES: usize = 2 << 20;

/// Per component instance in a pool ([`Sandbox::pooled`]): core instances, memories and
/// tables a component may have (a Python or JavaScript component links a dozen core modules).
const POOL_CORE_INSTANCES: u32 = 64;
const POOL_MEMORIES: u32 = 4;
const POOL_TABLES: u32 = 16;

/// Interval of the epoch ticker that bounds a task's running time.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Sandbox {
    /// Builds the engine (epoch interruption on) and the linker with the deterministic WASI
    /// and the weft host interface.
    pub fn new(limits: Limits) -> wasmtime::Result<Sandbox> {
        Sandbox::build(limits, None)
    }

    /// Like [`Sandbox::new`], with wasmtime's pooling instance allocator: the linear
    /// memories, tables and fiber stacks of up to `instances` live workflow instances (cached
    /// ones, running tasks, queries and replays together) are reserved once and reused, so
    /// creating and dropping an instance maps and unmaps no memory. An instantiation beyond
    /// `instances` fails (its Workflow Task fails and is retried). Each slot reserves address
    /// space (not memory) for the largest linear memory [`Limits`] allows.
    pub fn pooled(limits: Limits, instances: u32) -> wasmtime::Result<Sandbox> {
        Sandbox::build(limits, Some(instances.max(1)))
    }

    fn build(limits: Limits, pool: Option<u32>) -> wasmtime::Result<Sandbox> {
        let mut config = Config::new();
        if let Some(n) = pool {
            let mut p = PoolingAllocationConfig::default();
            p.total_component_instances(n)
                .max_core_instances_per_component(POOL_CORE_INSTANCES)
                .total_core_instances(n.saturating_mul(POOL_CORE_INSTANCES / 4))
                .max_memories_per_component(POOL_MEMORIES)
                .total_memories(n.saturating_mul(2))
                .max_tables_per_component(POOL_TABLES)
                .total_tables(n.saturating_mul(POOL_TABLES / 2))
                .total_stacks(n)
                .max_memory_size(limits.max_memory_bytes)
                .table_elements(limits.max_table_elements);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
        }
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(limits.max_wasm_stack_bytes);
        // Guest code runs on a fiber stack (an async call); the host functions it calls run
        // there too and get the 2 MiB beyond the guest's own stack.
        config.async_stack_size(limits.max_wasm_stack_bytes + HOST_STACK_BYTES);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        add_deterministic_wasi(&mut linker)?;
        bindings::Workflow::add_to_linker::<TaskState, ReplayData>(&mut linker, |s| &mut s.replay)?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (e, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    e.increment_epoch();
                }
            })
            .expect("spawn epoch thread");
        Ok(Sandbox {
            engine,
            linker,
            limits,
            stop_ticker,
            cache: None,
        })
    }

    /// Keeps compiled code in `dir` across restarts (see `compile_cache`): a component compiled
    /// once loads from there on the next start instead of compiling again. The directory must
    /// be the host's own: its files are loaded as machine code.
    pub fn with_compile_cache(
        mut self,
        dir: impl Into<std::path::PathBuf>,
    ) -> std::io::Result<Sandbox> {
        self.cache = Some(crate::compile_cache::CompileCache::new(
            dir.into(),
            &self.engine,
        )?);
        Ok(self)
    }

    /// The limits every task runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads and compiles the component at `path` for `workflow_type`.
    pub fn compile_file(
        &self,
        workflow_type: &str,
        path: &Path,
    ) -> Result<CompiledWorkflow, AdmissionError> {
        let bytes = std::fs::read(path).map_err(|source| AdmissionError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.compile(workflow_type, &bytes)
    }

    /// Checks and compiles a component: it must be a valid component within the size limit,
    /// import only [`ALLOWED_IMPORTS`] and export `run`.
    pub fn compile(
        &self,
        workflow_type: &str,
        bytes: &[u8],
    ) -> Result<CompiledWorkflow, AdmissionError> {
        if bytes.len() > self.limits.max_component_bytes {
            return Err(AdmissionError::TooLarge {
                workflow_type: workflow_type.into(),
                size: bytes.len(),
                limit: self.limits.max_component_bytes,
            });
        }
        let forbidden = |name: &str| {
            let base = name.split('@').next().unwrap_or(name);
            (!ALLOWED_IMPORTS.contains(&base)).then(|| AdmissionError::ForbiddenImport {
                workflow_type: workflow_type.into(),
                import: name.to_string(),
            })
        };
        // Imports are read before compiling: refusing a large component costs no compile.
        if let Some(imports) = crate::compile_cache::top_level_imports(bytes)
            && let Some(refused) = imports.iter().find_map(|n| forbidden(n))
        {
            return Err(refused);
        }
        let digest = component_digest(bytes);
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.load(&self.engine, &digest));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(c) => c,
            None => {
                let c =
                    Component::new(&self.engine, bytes).map_err(|e| AdmissionError::Invalid {
                        workflow_type: workflow_type.into(),
                        reason: format!("{e:#}"),
                    })?;
                if let Some(cache) = &self.cache {
                    cache.store(&digest, &c);
                }
                c
            }
        };
        let ty = component.component_type();
        if let Some(refused) = ty.imports(&self.engine).find_map(|(n, _)| forbidden(n)) {
            return Err(refused);
        }
        let wrong = |reason: String| AdmissionError::WrongWorld {
            workflow_type: workflow_type.into(),
            reason,
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| wrong(format!("{e:#}")))?;
        let pre = bindings::WorkflowPre::new(pre).map_err(|e| wrong(format!("{e:#}")))?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(CompiledWorkflow {
            pre,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            digest,
            from_cache,
        })
    }

    /// A store for one Workflow Task, with limits, a time limit of `limit` (wall clock, enforced by epoch interruption while guest code runs) and the deterministic WASI
    /// bound to `replay`'s clock, seed and log.
    pub fn store(&self, replay: Replay, limit: std::time::Duration) -> Store<TaskState> {
        let clock = replay.clock();
        let seed = replay.seed();
        let log = replay.log();
        let mut b = WasiCtx::builder();
        b.wall_clock(WorkflowClock(clock))
            .secure_random(SeededRng::new(seed ^ 0x5eed_0001))
            .insecure_random(SeededRng::new(seed ^ 0x5eed_0002))
            .insecure_random_seed(u128::from(seed) << 64 | u128::from(seed ^ 0x5eed_0003))
            // A larger request traps: a workflow needs keys and ids, not bulk randomness.
            .max_random_size(MAX_RANDOM_BYTES_PER_CALL)
            .stdout(LogStream {
                log: log.clone(),
                stderr: false,
            })
            .stderr(LogStream { log, stderr: true })
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = TaskState {
            wasi: b.build(),
            clock: replay.clock(),
            clock_waits: Default::default(),
            table: ResourceTable::new(),
            limits: TrackedLimits {
                inner: StoreLimitsBuilder::new()
                    .memory_size(self.limits.max_memory_bytes)
                    .table_elements(self.limits.max_table_elements)
                    .instances(100)
                    .build(),
                memory: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            },
            replay,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(ticks(limit));
        store
    }

    /// A store for a workflow instance kept suspended between tasks (the sticky cache): the
    /// time limit `limit` counts from the start of the current task
    /// ([`Replay::task_started`]), not from the creation of the store.
    pub fn sticky_store(&self, replay: Replay, limit: std::time::Duration) -> Store<TaskState> {
        let mut store = self.store(replay, limit);
        store.epoch_deadline_callback(move |ctx| {
            let elapsed = ctx.data().replay.task_started().elapsed();
            if elapsed >= limit {
                return Err(wasmtime::Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Continue(ticks(limit - elapsed)))
        });
        store
    }
}

fn ticks(limit: std::time::Duration) -> u64 {
    (limit.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// The store limits, and the linear memory the instance holds (for the sticky cache's
/// memory budget).
pub struct TrackedLimits {
    inner: StoreLimits,
    memory: Arc<std::sync::atomic::AtomicUsize>,
}

impl ResourceLimiter for TrackedLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if ok {
            self.memory
                .fetch_add(desired.saturating_sub(current), Ordering::Relaxed);
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// A compiled, linked workflow component, instantiated once per task.
#[derive(Clone)]
pub struct CompiledWorkflow {
    pre: bindings::WorkflowPre<TaskState>,
    id: u64,
    digest: String,
    from_cache: bool,
}

/// The content address of a component: `sha256:` and the hex SHA-256 of its bytes.
///
/// ```
/// let d = weft_wasm::sandbox::component_digest(b"");
/// assert_eq!(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// ```
pub fn component_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

impl CompiledWorkflow {
    /// The component's digest ([`component_digest`] of its bytes): runs are pinned to it.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Its code was loaded from the compiled-code cache, not compiled now.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// Identifies this compilation: a component registered again gets a new id, so cached
    /// instances of the old one are not reused.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Instantiates the component in `store` and calls `run(input)`, for a task that runs
    /// to its end at once (its instance is not kept): the call never waits on anything.
    pub fn run(
        &self,
        store: &mut Store<TaskState>,
        input: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, weft_core::history::Failure>> {
        match crate::sticky::poll_once(std::pin::pin!(self.run_async(store, input))) {
            std::task::Poll::Ready(result) => result,
            std::task::Poll::Pending => Err(wasmtime::format_err!(
                "the workflow's instance waited for a next task, which only a cached instance can"
            )),
        }
    }

    /// Instantiates the component in `store` and calls `run(input)` on a fiber. The future
    /// is pending while a cached instance waits for its next task
    /// ([`weft_replay::StickyLink`]).
    pub async fn run_async(
        &self,
        store: &mut Store<TaskState>,
        input: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, weft_core::history::Failure>> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        let ret = instance.call_run(store, &input.to_vec()).await?;
        Ok(ret.map_err(crate::glue::from_wit_failure))
    }
}

/// Data of a task's store.
pub struct TaskState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// Workflow time (ms since the epoch), shared with the replay.
    pub(crate) clock: Arc<AtomicU64>,
    /// Clock pollables the guest holds (see [`crate::wasi`]).
    pub(crate) clock_waits: crate::wasi::ClockWaits,
    limits: TrackedLimits,
    /// The replay driving this task.
    pub replay: Replay,
}

impl TaskState {
    /// Bytes of linear memory the instance holds.
    pub fn memory(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.limits.memory.clone()
    }
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct ReplayData;
impl HasData for ReplayData {
    type Data<'a> = &'a mut Replay;
}

struct IoData;
impl HasData for IoData {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links the WASI interfaces in [`ALLOWED_IMPORTS`] (what each answers: [`crate::wasi`]);
/// sockets refuse every call.
fn add_deterministic_wasi(l: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets, sync};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
    type T = TaskState;
    // Sockets: the context allows no TCP, UDP or name lookup and checks every address with a
    // deny-all check, so a guest that tries the network gets "access denied".
    sync::sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sync::sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sync::sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), T::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, IoData>(l, |t| &mut t.table)?;
    crate::wasi::add_to_linker(l)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}

/// Wall clock reading workflow time (ms since the epoch) from the replay.
struct WorkflowClock(Arc<AtomicU64>);

impl wasmtime_wasi::HostWallClock for WorkflowClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

const STDERR_TAIL: usize = 2048;
/// Guest output logged per Workflow Task; the rest is dropped so a guest cannot flood the
/// host's log.
pub const MAX_LOG_BYTES_PER_TASK: usize = 64 * 1024;

#[derive(Clone)]
struct LogStream {
    log: Arc<GuestLog>,
    stderr: bool,
}

impl LogStream {
    fn write_bytes(&self, bytes: &[u8]) {
        if self.stderr {
            let mut tail = self.log.stderr_tail.lock().expect("stderr tail lock");
            tail.extend_from_slice(bytes);
            if tail.len() > STDERR_TAIL {
                let cut = tail.len() - STDERR_TAIL;
                tail.drain(..cut);
            }
        }
        if self.log.replaying.load(Ordering::Relaxed) {
            return;
        }
        let before = self.log.logged.fetch_add(bytes.len(), Ordering::Relaxed);
        if before >= MAX_LOG_BYTES_PER_TASK {
            return;
        }
        if before + bytes.len() > MAX_LOG_BYTES_PER_TASK {
            tracing::warn!(target: "weft::guest", workflow = %self.log.context, "guest output passed {MAX_LOG_BYTES_PER_TASK} bytes in this task; the rest is not logged");
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.is_empty()) {
            if self.stderr {
                tracing::warn!(target: "weft::guest", workflow = %self.log.context, "{line}");
            } else {
                tracing::info!(target: "weft::guest", workflow = %self.log.context, "{line}");
            }
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_a_clear_error() {
        let sandbox = Sandbox::new(Limits::default()).unwrap();
        let err = sandbox
            .compile("junk", b"definitely not wasm")
            .err()
            .unwrap();
        assert!(matches!(err, AdmissionError::Invalid { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("not a valid WebAssembly component")
        );
    }
}
