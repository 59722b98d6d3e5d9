//! Builds workflow components. From build scripts: workflow crates (Rust guests built on
//! `weft-sdk`) to `wasm32-wasip2` components with a nested `cargo build`, and Python and
//! TypeScript workflows with [`build_polyglot_guest`], so `cargo build` and `cargo test` of the
//! host side always run freshly built guests. The `weft build` command uses
//! [`PolyglotBuilder`] directly.

mod polyglot;

pub use polyglot::{BuildError, Built, COMPONENTIZE_PY, Language, PolyglotBuilder};

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the packages `packages` of the guest workspace at `workspace_dir` in release mode for
/// `wasm32-wasip2` into `target_dir` and returns the paths of their `.wasm` components, in the
/// order of `packages`. Tells cargo to rerun the build script when the guests, the SDK or the
/// WIT change. Panics with an explanation when the build fails, as build scripts do.
pub fn build_guests(workspace_dir: &Path, target_dir: &Path, packages: &[&str]) -> Vec<PathBuf> {
    let workspace_dir = workspace_dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("guest workspace {}: {e}", workspace_dir.display()));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for watched in [
        workspace_dir.clone(),
        repo.join("guest-sdk/src"),
        repo.join("guest-sdk/Cargo.toml"),
        repo.join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace_dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(workspace_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    // The outer build's settings are for the host target, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the workflow guests: {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint =
            if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                "\nhint: run `rustup target add wasm32-wasip2`"
            } else {
                ""
            };
        panic!(
            "building workflow guests in {} failed:\n{stderr}{hint}",
            workspace_dir.display()
        );
    }
    packages
        .iter()
        .map(|p| {
            let wasm = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", p.replace('-', "_")));
            assert!(
                wasm.is_file(),
                "guest build did not produce {}",
                wasm.display()
            );
            wasm
        })
        .collect()
}

/// For build scripts: builds the Python or TypeScript workflow `source` (language from its
/// extension) to `out` with toolchains kept in `toolchain_dir`, and tells cargo to rerun the
/// build script when the workflow's directory or the SDKs change. Nothing runs when `out` is
/// up to date. Panics with the tool's output when the build fails, as build scripts do.
pub fn build_polyglot_guest(source: &Path, out: &Path, toolchain_dir: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for watched in [
        source.parent().unwrap_or(Path::new(".")).to_path_buf(),
        repo.join("sdk/python/weft"),
        repo.join("sdk/typescript/src"),
        repo.join("sdk/typescript/build.mjs"),
        repo.join("sdk/typescript/toolchain"),
        repo.join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let language = Language::of(source)
        .unwrap_or_else(|| panic!("{}: not a .py or .ts workflow", source.display()));
    match PolyglotBuilder::new(toolchain_dir).build(language, source, out) {
        Ok(built) => built.path,
        Err(e) => panic!(
            "building the {} workflow {} failed: {e}",
            language.name(),
            source.display()
        ),
    }
}
