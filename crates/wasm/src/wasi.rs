//! The deterministic WASI subset a workflow is linked against, and what every import answers.
//!
//! A workflow may import these WASI 0.2 interfaces (any 0.2.x version; admission refuses
//! everything else, see [`crate::sandbox::ALLOWED_IMPORTS`]). Each import is answered from the
//! run's history or is constant, and none of them waits: a replay reaches the same values
//! at the same points, and a guest cannot hold its Workflow Task slot inside the host.
//!
//! | interface | import | answer |
//! |---|---|---|
//! | `wasi:clocks/wall-clock` | `now` | workflow time: the recorded start of the Workflow Task in which the code runs (ms precision) |
//! | | `resolution` | 1 ms |
//! | `wasi:clocks/monotonic-clock` | `now` | workflow time in ns (the same instant as `wall-clock.now`) |
//! | | `resolution` | 1 ms |
//! | | `subscribe-instant`, `subscribe-duration` | a clock pollable with a deadline on workflow time (see `wasi:io/poll`) |
//! | `wasi:io/poll` | `pollable.ready` | clock pollable: deadline reached on workflow time, or already returned by `block`/`poll`; stream pollable: true |
//! | | `pollable.block` | returns at once (a clock pollable counts as ready from then on); a workflow never waits on a real clock |
//! | | `poll` | the ready pollables; if none is, the clock pollables with the earliest deadline (now ready); never waits |
//! | `wasi:io/streams` | `output-stream.*` (stdout, stderr) | accepted at once, logged by the host (not again during replay); `check-write` 64 KiB |
//! | | `input-stream.*` (stdin) | closed: every read or skip returns `closed` |
//! | | `subscribe` | a pollable that is always ready |
//! | `wasi:io/error` | `error.to-debug-string` | text of a stream error (none can occur on these streams) |
//! | `wasi:random/random` | `get-random-bytes`, `get-random-u64` | SplitMix64 seeded from the run's recorded seed (`WorkflowExecutionStarted`) |
//! | `wasi:random/insecure` | `get-insecure-random-bytes`, `get-insecure-random-u64` | a second stream from the same seed |
//! | `wasi:random/insecure-seed` | `insecure-seed` | a constant derived from the run's seed |
//! | `wasi:cli/environment` | `get-environment`, `get-arguments`, `initial-cwd` | empty, empty, none |
//! | `wasi:cli/exit` | `exit` | stops the guest: the Workflow Task fails (a workflow ends by returning) |
//! | `wasi:cli/stdin`, `stdout`, `stderr` | `get-stdin`, `get-stdout`, `get-stderr` | the streams above |
//! | `wasi:cli/terminal-*` | `get-terminal-stdin`, `-stdout`, `-stderr` | none |
//! | `wasi:filesystem/preopens` | `get-directories` | empty: no descriptor can ever be obtained |
//! | `wasi:filesystem/types` | every descriptor method, `filesystem-error-code` | unreachable without a descriptor; `filesystem-error-code` returns none |
//!
//! Random byte requests are capped at 1 MiB per call
//! ([`crate::sandbox::MAX_RANDOM_BYTES_PER_CALL`]); a larger request traps. Sockets and HTTP are not linked. Any import implemented here whose answer is not
//! ready at once (which would mean a host object that waits, a bug) traps with a message naming
//! the import instead of blocking.
//!
//! This module owns `wasi:io/poll`, `wasi:io/streams` and `wasi:clocks/monotonic-clock`, where
//! wasmtime's own implementations would wait on the host's clock or a tokio runtime; the other
//! interfaces use wasmtime-wasi's implementations configured in [`crate::sandbox`] with the
//! workflow clock, the seeded random sources, the log streams and no preopens.

use crate::sandbox::TaskState;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use wasmtime::component::{Linker, Resource, ResourceTable, ResourceType};
use wasmtime::{StoreContextMut, format_err};
use wasmtime_wasi_io::bindings::wasi::io::poll::HostPollable;
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    self as streams, Host as _, HostInputStream, HostOutputStream,
};
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

/// Fault injection for the tests of the task watchdog: while non-zero, `pollable.block` on a
/// clock pollable sleeps this many real milliseconds, as a host call that blocks would. Never
/// set outside tests.
#[doc(hidden)]
pub static FAULT_BLOCK_MS: AtomicU64 = AtomicU64::new(0);

/// Clock pollables of one store, by the handle the guest holds, with their deadlines on
/// workflow time (ns since the epoch).
#[derive(Default)]
pub struct ClockWaits(HashMap<u32, ClockWait>);

struct ClockWait {
    deadline_ns: u64,
    /// Returned by `block` or `poll`: ready from then on.
    fired: bool,
}

impl ClockWaits {
    fn ready(&self, rep: u32, now_ns: u64) -> Option<bool> {
        self.0.get(&rep).map(|w| w.fired || w.deadline_ns <= now_ns)
    }
}

/// The table object behind a clock pollable. The deterministic answers come from
/// [`ClockWaits`]; this object only exists because a `pollable` handle must point at one.
struct ClockPollable {
    deadline_ns: u64,
    clock: Arc<AtomicU64>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for ClockPollable {
    async fn ready(&mut self) {
        if self.deadline_ns > now_ns(&self.clock) {
            // Workflow time does not move while the guest runs.
            std::future::pending::<()>().await
        }
    }
}

fn now_ns(clock: &AtomicU64) -> u64 {
    clock.load(Ordering::Relaxed).saturating_mul(1_000_000)
}

/// Polls `f` once. Every host object a workflow can reach is ready at once, so this never
/// needs an executor (and never needs tokio).
fn at_once<T>(
    import: &'static str,
    f: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(format_err!(
            "the workflow called `{import}`, which would wait on the host; a workflow can only wait on its history (timers, activities, messages through weft's wait-any)"
        )),
    }
}

type StreamRes<T> = wasmtime::Result<Result<T, streams::StreamError>>;

/// Converts a stream result as the generated bindings do: a trap stays a trap.
fn stream_result<T>(
    table: &mut ResourceTable,
    r: Result<T, wasmtime_wasi_io::streams::StreamError>,
) -> StreamRes<T> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) => Ok(Err(table.convert_stream_error(e)?)),
    }
}

/// Links `wasi:io/poll`, `wasi:io/streams` and `wasi:clocks/monotonic-clock` (see the module
/// documentation for what each import answers).
pub fn add_to_linker(l: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    add_poll(l)?;
    add_streams(l)?;
    add_monotonic_clock(l)
}

/// The WASI 0.2 release these definitions are named for; a component importing any 0.2.x
/// version links to them (the linker matches semver-compatible versions).
const WASI_VERSION: &str = "0.2.12";

fn add_poll(l: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    let mut inst = l.instance(&format!("wasi:io/poll@{WASI_VERSION}"))?;
    inst.resource(
        "pollable",
        ResourceType::host::<DynPollable>(),
        |mut store: StoreContextMut<'_, TaskState>, rep| {
            let s = store.data_mut();
            s.clock_waits.0.remove(&rep);
            HostPollable::drop(&mut s.table, Resource::new_own(rep))
        },
    )?;
    inst.func_wrap(
        "[method]pollable.ready",
        |mut store: StoreContextMut<'_, TaskState>, (p,): (Resource<DynPollable>,)| {
            let s = store.data_mut();
            if let Some(ready) = s.clock_waits.ready(p.rep(), now_ns(&s.clock)) {
                return Ok((ready,));
            }
            at_once("wasi:io/poll.pollable.ready", s.table.ready(p)).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, TaskState>, (p,): (Resource<DynPollable>,)| {
            let s = store.data_mut();
            if let Some(w) = s.clock_waits.0.get_mut(&p.rep()) {
                // Sleeping in a workflow does not wait: time only moves between tasks.
                w.fired = true;
                let fault = FAULT_BLOCK_MS.load(Ordering::Relaxed);
                if fault > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(fault));
                }
                return Ok(());
            }
            at_once("wasi:io/poll.pollable.block", s.table.block(p))
        },
    )?;
    inst.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, TaskState>, (list,): (Vec<Resource<DynPollable>>,)| {
            let s = store.data_mut();
            if list.is_empty() {
                return Err(format_err!("wasi:io/poll.poll: empty list of pollables"));
            }
            let now = now_ns(&s.clock);
            let mut ready = Vec::new();
            let mut earliest: Option<u64> = None;
            for (i, p) in list.iter().enumerate() {
                let rep = p.rep();
                let is_ready = match s.clock_waits.ready(rep, now) {
                    Some(r) => {
                        let d = s.clock_waits.0[&rep].deadline_ns;
                        earliest = Some(earliest.map_or(d, |e| e.min(d)));
                        r
                    }
                    None => at_once(
                        "wasi:io/poll.poll",
                        s.table.ready(Resource::new_borrow(rep)),
                    )?,
                };
                if is_ready {
                    ready.push(i as u32);
                }
            }
            if ready.is_empty() {
                // Only clock pollables can be pending: the earliest deadlines "pass" at once.
                let Some(earliest) = earliest else {
                    return Err(format_err!(
                        "wasi:io/poll.poll: no pollable in the list can become ready"
                    ));
                };
                for (i, p) in list.iter().enumerate() {
                    if let Some(w) = s.clock_waits.0.get_mut(&p.rep())
                        && w.deadline_ns == earliest
                    {
                        w.fired = true;
                        ready.push(i as u32);
                    }
                }
            }
            Ok((ready,))
        },
    )?;
    Ok(())
}

fn add_monotonic_clock(l: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    let mut inst = l.instance(&format!("wasi:clocks/monotonic-clock@{WASI_VERSION}"))?;
    inst.func_wrap("now", |store: StoreContextMut<'_, TaskState>, (): ()| {
        Ok((now_ns(&store.data().clock),))
    })?;
    inst.func_wrap("resolution", |_: StoreContextMut<'_, TaskState>, (): ()| {
        Ok((1_000_000u64,))
    })?;
    inst.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, TaskState>, (when,): (u64,)| {
            clock_pollable(store.data_mut(), when).map(|p| (p,))
        },
    )?;
    inst.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, TaskState>, (d,): (u64,)| {
            let s = store.data_mut();
            let deadline = now_ns(&s.clock).saturating_add(d);
            clock_pollable(s, deadline).map(|p| (p,))
        },
    )?;
    Ok(())
}

fn clock_pollable(s: &mut TaskState, deadline_ns: u64) -> wasmtime::Result<Resource<DynPollable>> {
    let clock = s.clock.clone();
    let obj = s.table.push(ClockPollable { deadline_ns, clock })?;
    let p = subscribe(&mut s.table, obj)?;
    s.clock_waits.0.insert(
        p.rep(),
        ClockWait {
            deadline_ns,
            fired: false,
        },
    );
    Ok(p)
}

type In = Resource<DynInputStream>;
type Out = Resource<DynOutputStream>;

/// Links every method of `wasi:io/streams`. Long but flat: one short closure per import, in
/// the interface's order, so it reads beside the table in the module comment.
fn add_streams(l: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    let mut inst = l.instance(&format!("wasi:io/streams@{WASI_VERSION}"))?;
    inst.resource(
        "input-stream",
        ResourceType::host::<DynInputStream>(),
        |mut store: StoreContextMut<'_, TaskState>, rep| {
            let t = &mut store.data_mut().table;
            at_once(
                "wasi:io/streams.input-stream.drop",
                HostInputStream::drop(t, Resource::new_own(rep)),
            )
        },
    )?;
    inst.resource(
        "output-stream",
        ResourceType::host::<DynOutputStream>(),
        |mut store: StoreContextMut<'_, TaskState>, rep| {
            let t = &mut store.data_mut().table;
            at_once(
                "wasi:io/streams.output-stream.drop",
                HostOutputStream::drop(t, Resource::new_own(rep)),
            )
        },
    )?;
    type S<'a> = StoreContextMut<'a, TaskState>;
    inst.func_wrap(
        "[method]input-stream.read",
        |mut s: S<'_>, (st, len): (In, u64)| {
            let t = &mut s.data_mut().table;
            let r = HostInputStream::read(t, st, len);
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]input-stream.blocking-read",
        |mut s: S<'_>, (st, len): (In, u64)| {
            let t = &mut s.data_mut().table;
            let r = at_once_stream(
                "wasi:io/streams.input-stream.blocking-read",
                t.blocking_read(st, len),
            )?;
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]input-stream.skip",
        |mut s: S<'_>, (st, len): (In, u64)| {
            let t = &mut s.data_mut().table;
            let r = HostInputStream::skip(t, st, len);
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]input-stream.blocking-skip",
        |mut s: S<'_>, (st, len): (In, u64)| {
            let t = &mut s.data_mut().table;
            let r = at_once_stream(
                "wasi:io/streams.input-stream.blocking-skip",
                t.blocking_skip(st, len),
            )?;
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]input-stream.subscribe",
        |mut s: S<'_>, (st,): (In,)| {
            HostInputStream::subscribe(&mut s.data_mut().table, st).map(|p| (p,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.check-write",
        |mut s: S<'_>, (st,): (Out,)| {
            let t = &mut s.data_mut().table;
            let r = t.check_write(st);
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.write",
        |mut s: S<'_>, (st, bytes): (Out, Vec<u8>)| {
            let t = &mut s.data_mut().table;
            let r = t.write(st, bytes);
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |mut s: S<'_>, (st, bytes): (Out, Vec<u8>)| {
            let t = &mut s.data_mut().table;
            let r = at_once_stream(
                "wasi:io/streams.output-stream.blocking-write-and-flush",
                t.blocking_write_and_flush(st, bytes),
            )?;
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.flush",
        |mut s: S<'_>, (st,): (Out,)| {
            let t = &mut s.data_mut().table;
            let r = t.flush(st);
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.blocking-flush",
        |mut s: S<'_>, (st,): (Out,)| {
            let t = &mut s.data_mut().table;
            let r = at_once_stream(
                "wasi:io/streams.output-stream.blocking-flush",
                t.blocking_flush(st),
            )?;
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.subscribe",
        |mut s: S<'_>, (st,): (Out,)| {
            HostOutputStream::subscribe(&mut s.data_mut().table, st).map(|p| (p,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.write-zeroes",
        |mut s: S<'_>, (st, len): (Out, u64)| {
            let t = &mut s.data_mut().table;
            let r = t.write_zeroes(st, len);
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut s: S<'_>, (st, len): (Out, u64)| {
            let t = &mut s.data_mut().table;
            let r = at_once_stream(
                "wasi:io/streams.output-stream.blocking-write-zeroes-and-flush",
                t.blocking_write_zeroes_and_flush(st, len),
            )?;
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.splice",
        |mut s: S<'_>, (dst, src, len): (Out, In, u64)| {
            let t = &mut s.data_mut().table;
            let r = t.splice(dst, src, len);
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    inst.func_wrap(
        "[method]output-stream.blocking-splice",
        |mut s: S<'_>, (dst, src, len): (Out, In, u64)| {
            let t = &mut s.data_mut().table;
            let r = at_once_stream(
                "wasi:io/streams.output-stream.blocking-splice",
                t.blocking_splice(dst, src, len),
            )?;
            stream_result(t, r).map(|r| (r,))
        },
    )?;
    Ok(())
}

/// [`at_once`] for a stream operation, whose own error is not a trap.
fn at_once_stream<T>(
    import: &'static str,
    f: impl Future<Output = Result<T, wasmtime_wasi_io::streams::StreamError>>,
) -> wasmtime::Result<Result<T, wasmtime_wasi_io::streams::StreamError>> {
    at_once(import, async { Ok(f.await) })
}
