//! Compiles the import workflow in workflow/ to a wasm32-wasip2 component.
use std::path::Path;

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wasm = weft_guest_build::build_guests(
        &manifest.join("workflow"),
        &manifest.join("../../target/wasm-guests"),
        &["import-workflow"],
    );
    println!("cargo:rustc-env=IMPORT_WORKFLOW_WASM={}", wasm[0].display());
}
