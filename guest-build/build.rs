//! Embeds the Python and TypeScript SDKs, the TypeScript toolchain's pinned package files and
//! the WIT package, so `weft build` works from any directory with nothing but python3 and npm.
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let roots = [
        ("python", repo.join("sdk/python")),
        ("typescript", repo.join("sdk/typescript")),
        ("wit", repo.join("wit")),
    ];
    let mut files = Vec::new();
    for (name, dir) in &roots {
        println!("cargo:rerun-if-changed={}", dir.display());
        collect(dir, dir, name, &mut files);
    }
    files.sort();
    let mut out = String::from("/// The embedded SDK files: (path under the SDK dir, contents).\n");
    out.push_str("pub(crate) const SDK_FILES: &[(&str, &str)] = &[\n");
    for (rel, path) in &files {
        writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("sdk_files.rs");
    std::fs::write(dest, out).unwrap();
}

/// Source files only: no installed packages, caches or build output.
fn collect(root: &Path, dir: &Path, prefix: &str, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "node_modules" | "__pycache__" | "dist" | "target"
            ) && !name.starts_with('.')
            {
                println!("cargo:rerun-if-changed={}", path.display());
                collect(root, &path, prefix, files);
            }
        } else if [".py", ".ts", ".mjs", ".json", ".wit", ".toml"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            files.push((format!("{prefix}/{rel}"), path));
        }
    }
}
