//! Python and TypeScript workflows to components: the SDKs of `sdk/python` and
//! `sdk/typescript` (embedded in this crate), toolchains installed on first use from PyPI and
//! npm at pinned versions into a toolchain directory, and one build call per language.
//!
//! - Python: a virtual environment with componentize-py; the workflow module and the `weft`
//!   package are wrapped by a generated entry module that exports the SDK's `WitWorld`.
//! - TypeScript: componentize-js and esbuild from a pinned `package-lock.json`, installed with
//!   `npm ci` into a directory holding nothing else (a hoisted newer
//!   `@bytecodealliance/preview2-shim` breaks componentize-js); the SDK's `build.mjs` bundles
//!   the workflow with the SDK and componentizes it.
//!
//! Both builds keep the WASI clocks and random imports, which weft answers from the run's
//! history, and the sockets/http/filesystem imports the runtimes carry, which weft links
//! deny-all; the result is a component weft admits as it is.

use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The library componentize-py runs with so that Python builds are reproducible in their hash
/// seed (see the file).
const FIXED_ENTROPY_C: &str = include_str!("fixed_entropy.c");

/// The componentize-py release Python workflows are built with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The language of a workflow source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// A Python module (`.py`) using the `weft` package.
    Python,
    /// A TypeScript or JavaScript module (`.ts`, `.js`, `.mjs`) using the `weft` package.
    TypeScript,
}

impl Language {
    /// The language a file name implies, if any.
    pub fn of(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" => Some(Language::Python),
            "ts" | "js" | "mjs" | "mts" => Some(Language::TypeScript),
            _ => None,
        }
    }

    /// Its name as the `weft build` command takes it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::TypeScript => "typescript",
        }
    }
}

/// Why a build failed, with the tool's own output.
#[derive(Debug)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

fn err(msg: impl Into<String>) -> BuildError {
    BuildError(msg.into())
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// False when the component was up to date with its sources and nothing ran.
    pub rebuilt: bool,
    /// Time the build took (toolchain installation included).
    pub seconds: f64,
    /// Python: the build ran with fixed entropy, so the interpreter's `str` hash seed (and the
    /// iteration order of sets of strings) is the same in every build of the same sources.
    /// False when no C compiler (`cc`) was found to build the entropy library, or for
    /// TypeScript.
    pub hash_seed_pinned: bool,
}

/// Builds Python and TypeScript workflows, with toolchains kept in one directory.
#[derive(Clone, Debug)]
pub struct PolyglotBuilder {
    toolchain_dir: PathBuf,
    python: String,
    npm: String,
    node: String,
    python_paths: Vec<PathBuf>,
    force: bool,
}

impl PolyglotBuilder {
    /// A builder keeping its toolchains in `toolchain_dir` (created when needed).
    pub fn new(toolchain_dir: impl Into<PathBuf>) -> PolyglotBuilder {
        PolyglotBuilder {
            toolchain_dir: toolchain_dir.into(),
            python: std::env::var("WEFT_PYTHON").unwrap_or_else(|_| "python3".into()),
            npm: "npm".into(),
            node: "node".into(),
            python_paths: Vec::new(),
            force: false,
        }
    }

    /// The toolchain directory used when none is given: `WEFT_TOOLCHAIN_DIR`, else
    /// `$XDG_CACHE_HOME/weft/toolchains`, else `~/.cache/weft/toolchains`.
    pub fn default_toolchain_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("WEFT_TOOLCHAIN_DIR") {
            return d.into();
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("weft/toolchains")
    }

    /// Adds a directory Python modules are imported from (pure-Python dependencies).
    pub fn python_path(mut self, dir: impl Into<PathBuf>) -> PolyglotBuilder {
        self.python_paths.push(dir.into());
        self
    }

    /// Builds even when the component is up to date with its sources.
    pub fn force(mut self, force: bool) -> PolyglotBuilder {
        self.force = force;
        self
    }

    /// Builds workflow module `source` in `language` to the component `out`. Skips the build
    /// when `out` was built from the same sources, SDK and toolchain (a stamp file beside it
    /// records them), unless [`PolyglotBuilder::force`] is set.
    pub fn build(
        &self,
        language: Language,
        source: &Path,
        out: &Path,
    ) -> Result<Built, BuildError> {
        let started = Instant::now();
        let source = source
            .canonicalize()
            .map_err(|e| err(format!("workflow source {}: {e}", source.display())))?;
        let app_dir = source.parent().expect("a file has a parent").to_path_buf();
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| err(format!("{}: {e}", parent.display())))?;
        }
        let stamp_path = PathBuf::from(format!("{}.stamp", out.display()));
        let stamp = self.stamp(language, &source, &app_dir)?;
        // The stamp file: the digest of the inputs, then `pinned` or `unpinned`.
        let recorded = fs::read_to_string(&stamp_path).unwrap_or_default();
        if !self.force
            && out.is_file()
            && let Some((digest, pinned)) = recorded.split_once('\n')
            && digest == stamp
        {
            return Ok(Built {
                path: out.to_path_buf(),
                bytes: fs::metadata(out).map(|m| m.len()).unwrap_or(0),
                rebuilt: false,
                seconds: started.elapsed().as_secs_f64(),
                hash_seed_pinned: pinned.trim() == "pinned",
            });
        }
        fs::create_dir_all(&self.toolchain_dir).map_err(|e| {
            err(format!(
                "toolchain dir {}: {e}",
                self.toolchain_dir.display()
            ))
        })?;
        let sdk = self.materialize_sdk()?;
        let work = self.work_dir()?;
        let tmp_out = work.join("out.wasm");
        let result = match language {
            Language::Python => self.build_python(&sdk, &source, &app_dir, &work, &tmp_out),
            Language::TypeScript => self
                .build_typescript(&sdk, &source, &work, &tmp_out)
                .map(|()| false),
        };
        let result = result.and_then(|pinned| {
            fs::copy(&tmp_out, out).map_err(|e| err(format!("{}: {e}", out.display())))?;
            let status = if pinned { "pinned" } else { "unpinned" };
            fs::write(&stamp_path, format!("{stamp}\n{status}\n"))
                .map_err(|e| err(format!("{}: {e}", stamp_path.display())))?;
            Ok(pinned)
        });
        let _ = fs::remove_dir_all(&work);
        let pinned = result?;
        Ok(Built {
            path: out.to_path_buf(),
            bytes: fs::metadata(out).map(|m| m.len()).unwrap_or(0),
            rebuilt: true,
            seconds: started.elapsed().as_secs_f64(),
            hash_seed_pinned: pinned,
        })
    }

    fn build_python(
        &self,
        sdk: &Path,
        source: &Path,
        app_dir: &Path,
        work: &Path,
        out: &Path,
    ) -> Result<bool, BuildError> {
        let module = source
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|m| {
                !m.is_empty()
                    && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !m.starts_with(|c: char| c.is_ascii_digit())
            })
            .ok_or_else(|| {
                err(format!(
                    "{} is not importable as a Python module: name it like `order_workflow.py`",
                    source.display()
                ))
            })?;
        if matches!(module, "weft" | "wit_world" | "_weft_entry") {
            return Err(err(format!(
                "a workflow module may not be named `{module}` (the SDK and the bindings use \
                 that name); rename {}",
                source.display()
            )));
        }
        let (componentize, entropy) = self.python_toolchain()?;
        let entry_dir = work.join("entry");
        fs::create_dir_all(&entry_dir).map_err(|e| err(e.to_string()))?;
        fs::write(
            entry_dir.join("_weft_entry.py"),
            // The pre-initialization may write into the source directories: no `__pycache__`.
            format!(
                "import sys\nsys.dont_write_bytecode = True\n\
                 import {module}  # noqa: F401  (registers the workflow)\n\
                 from weft import WitWorld  # noqa: F401\n"
            ),
        )
        .map_err(|e| err(e.to_string()))?;
        let mut cmd = Command::new(componentize);
        cmd.current_dir(work)
            .arg("-d")
            .arg(sdk.join("wit"))
            .args(["-w", "workflow", "componentize", "_weft_entry"])
            .arg("-p")
            .arg(&entry_dir)
            .arg("-p")
            .arg(app_dir)
            .arg("-p")
            .arg(sdk.join("python"));
        for p in &self.python_paths {
            cmd.arg("-p").arg(p);
        }
        cmd.arg("-o").arg(out);
        // componentize-py adds an active virtual environment's packages to the component.
        cmd.env_remove("VIRTUAL_ENV");
        if let Some(lib) = &entropy {
            cmd.env("LD_PRELOAD", lib);
        }
        run(&mut cmd, "componentize-py")?;
        Ok(entropy.is_some())
    }

    fn build_typescript(
        &self,
        sdk: &Path,
        source: &Path,
        work: &Path,
        out: &Path,
    ) -> Result<(), BuildError> {
        let node_modules = self.node_toolchain(sdk)?;
        let mut cmd = Command::new(&self.node);
        cmd.current_dir(work)
            .arg(sdk.join("typescript/build.mjs"))
            .arg("--entry")
            .arg(source)
            .arg("--out")
            .arg(out)
            .arg("--wit")
            .arg(sdk.join("wit"))
            .arg("--work")
            .arg(work)
            .env("WEFT_NODE_MODULES", node_modules);
        run(&mut cmd, "the TypeScript build (sdk/typescript/build.mjs)")
    }

    /// The componentize-py executable, installed into a virtual environment on first use, and
    /// the fixed-entropy library it is run with (none where it cannot be built).
    fn python_toolchain(&self) -> Result<(PathBuf, Option<PathBuf>), BuildError> {
        let venv = self
            .toolchain_dir
            .join(format!("python-{}", COMPONENTIZE_PY.replace("==", "-")));
        let exe = venv.join("bin/componentize-py");
        let _lock = self.lock()?;
        if !exe.is_file() {
            self.install_componentize_py(&venv, &exe)?;
        }
        Ok((exe, self.fixed_entropy_library(&venv)))
    }

    /// Builds `fixed_entropy.c` into `venv` once (see that file). Linux only; without a C
    /// compiler the build goes on unpinned, and says so.
    fn fixed_entropy_library(&self, venv: &Path) -> Option<PathBuf> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let digest = &hex(&Sha256::digest(FIXED_ENTROPY_C))[..12];
        let lib = venv.join(format!("fixed-entropy-{digest}.so"));
        if lib.is_file() {
            return Some(lib);
        }
        let src = venv.join("fixed_entropy.c");
        fs::write(&src, FIXED_ENTROPY_C).ok()?;
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let built = run(
            Command::new(&cc)
                .args(["-shared", "-fPIC", "-O2", "-o"])
                .arg(&lib)
                .arg(&src),
            "the C compiler",
        );
        match built {
            Ok(()) => Some(lib),
            Err(e) => {
                eprintln!(
                    "warning: cannot build the fixed-entropy library ({e}); Python's str hash \
                     seed will differ between builds"
                );
                None
            }
        }
    }

    fn install_componentize_py(&self, venv: &Path, exe: &Path) -> Result<(), BuildError> {
        let _ = fs::remove_dir_all(venv);
        run(
            Command::new(&self.python).arg("-m").arg("venv").arg(venv),
            "python3 -m venv (is python3 installed, with its venv module?)",
        )?;
        run(
            Command::new(venv.join("bin/python"))
                .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
                .arg(COMPONENTIZE_PY),
            "pip install componentize-py",
        )?;
        if !exe.is_file() {
            return Err(err(format!("pip did not install {}", exe.display())));
        }
        Ok(())
    }

    /// The node_modules directory with componentize-js and esbuild, installed with `npm ci`
    /// from the SDK's pinned lock file on first use.
    fn node_toolchain(&self, sdk: &Path) -> Result<PathBuf, BuildError> {
        let pins = sdk.join("typescript/toolchain");
        let lock = fs::read(pins.join("package-lock.json"))
            .map_err(|e| err(format!("the TypeScript toolchain lock file: {e}")))?;
        let dir = self
            .toolchain_dir
            .join(format!("node-{}", &hex(&Sha256::digest(&lock))[..16]));
        let node_modules = dir.join("node_modules");
        let _lock = self.lock()?;
        if node_modules.join(".bin/componentize-js").exists()
            && node_modules.join("esbuild").is_dir()
        {
            return Ok(node_modules);
        }
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
        for f in ["package.json", "package-lock.json"] {
            fs::copy(pins.join(f), dir.join(f)).map_err(|e| err(format!("{f}: {e}")))?;
        }
        run(
            Command::new(&self.npm).current_dir(&dir).args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ]),
            "npm ci (is Node.js with npm installed?)",
        )?;
        Ok(node_modules)
    }

    /// Writes the embedded SDK to `sdk-<digest>` in the toolchain directory (once per SDK).
    fn materialize_sdk(&self) -> Result<PathBuf, BuildError> {
        let dir = self
            .toolchain_dir
            .join(format!("sdk-{}", &sdk_digest()[..16]));
        let done = dir.join(".complete");
        let _lock = self.lock()?;
        if done.is_file() {
            return Ok(dir);
        }
        let _ = fs::remove_dir_all(&dir);
        for (rel, contents) in SDK_FILES {
            let path = dir.join(rel);
            fs::create_dir_all(path.parent().expect("a file has a parent"))
                .and_then(|()| fs::write(&path, contents))
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
        }
        fs::write(&done, b"").map_err(|e| err(e.to_string()))?;
        Ok(dir)
    }

    fn work_dir(&self) -> Result<PathBuf, BuildError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = self.toolchain_dir.join(format!(
            "work/{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// Serializes toolchain installation between processes (build scripts run in parallel).
    fn lock(&self) -> Result<File, BuildError> {
        let f = File::create(self.toolchain_dir.join(".lock")).map_err(|e| err(e.to_string()))?;
        f.lock()
            .map_err(|e| err(format!("locking the toolchain dir: {e}")))?;
        Ok(f)
    }

    /// What the component is built from: the sources beside the workflow module, the SDK, the
    /// toolchain pins and the extra Python paths.
    fn stamp(
        &self,
        language: Language,
        source: &Path,
        app_dir: &Path,
    ) -> Result<String, BuildError> {
        let mut h = Sha256::new();
        h.update(language.name());
        h.update(COMPONENTIZE_PY);
        h.update(FIXED_ENTROPY_C);
        h.update(sdk_digest());
        h.update(source.to_string_lossy().as_bytes());
        let mut dirs = vec![app_dir.to_path_buf()];
        dirs.extend(self.python_paths.iter().cloned());
        for dir in dirs {
            let mut files = Vec::new();
            source_files(&dir, &mut files);
            files.sort();
            for f in files {
                h.update(f.to_string_lossy().as_bytes());
                h.update(fs::read(&f).map_err(|e| err(format!("{}: {e}", f.display())))?);
            }
        }
        Ok(hex(&h.finalize()))
    }
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "node_modules" | "__pycache__" | "target")
                && !name.starts_with('.')
            {
                source_files(&path, out);
            }
        } else if [".py", ".ts", ".js", ".mjs", ".mts", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.push(path);
        }
    }
}

fn sdk_digest() -> String {
    let mut h = Sha256::new();
    for (rel, contents) in SDK_FILES {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update(contents.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(cmd: &mut Command, what: &str) -> Result<(), BuildError> {
    let output = cmd
        .output()
        .map_err(|e| err(format!("cannot run {what}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).to_string();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.trim().is_empty() {
        text = format!("{stdout}\n{text}");
    }
    Err(err(format!(
        "{what} failed ({}):\n{}",
        output.status,
        text.trim_end()
    )))
}
