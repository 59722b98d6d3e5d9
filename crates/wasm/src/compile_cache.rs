//! Compiled code kept on disk across restarts: a component's machine code, as wasmtime
//! serializes it, in `<dir>/<sha256 of the component>-<engine key>.cwasm`. The engine key
//! hashes wasmtime's compatibility hash (its version and every setting that changes the code),
//! so a new wasmtime or configuration misses the cache instead of loading code it cannot run.
//!
//! Loading is `unsafe` in wasmtime because the file is trusted to be code wasmtime wrote: the
//! directory belongs to the host (the server keeps it in its data directory) and must not be
//! writable by anyone else. A file that does not load (truncated, or from another build) is
//! removed and the component compiled again.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use tracing::{info, warn};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The compiled-code directory of one engine.
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: u64,
}

impl CompileCache {
    /// The cache in `dir` (created if missing) for `engine`.
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<CompileCache> {
        std::fs::create_dir_all(&dir)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache {
            dir,
            engine_key: h.finish(),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir
            .join(format!("{hex}-{:016x}.cwasm", self.engine_key))
    }

    /// The compiled code of the component with digest `digest`, if the cache has it.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store` below with this engine's configuration (the
        // engine key is in its name), in a directory only the host writes; wasmtime checks its
        // header and version and refuses a file it did not write.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "compiled code in the cache does not load; compiling again");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Keeps `component`'s compiled code for the next start. A failure only costs that start a
    /// compile, so it is logged, not returned.
    pub(crate) fn store(&self, digest: &str, component: &Component) {
        let path = self.path(digest);
        // Unique per writer: hosts of one process may store the same component at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        let written = component
            .serialize()
            .map_err(|e| e.to_string())
            .and_then(|code| std::fs::write(&tmp, code).map_err(|e| e.to_string()))
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| e.to_string()));
        match written {
            Ok(()) => info!(path = %path.display(), "compiled code cached"),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                warn!(path = %path.display(), error = %e, "cannot cache compiled code");
            }
        }
    }
}

/// The names of the interfaces and functions a component imports (its top level only: nested
/// modules and components import from it, not from the host; types are left out), read
/// without compiling it.
/// `None` if the bytes do not parse as a component; compiling it then says why.
pub(crate) fn top_level_imports(bytes: &[u8]) -> Option<Vec<String>> {
    use wasmparser::{Encoding, Parser, Payload};
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => return None,
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth == 0 => break,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.ok()?;
                    // Type imports (the world's `use`d types) are not things the host provides.
                    if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                        names.push(import.name.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Some(names)
}
