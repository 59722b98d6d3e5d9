//! Compiles the tour's workflows in workflows/ to wasm32-wasip2 components.
use std::path::Path;

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let names = ["approval", "fanout", "batch", "trip"];
    let crates: Vec<String> = names.iter().map(|n| format!("{n}-workflow")).collect();
    let crates: Vec<&str> = crates.iter().map(String::as_str).collect();
    let wasm = weft_guest_build::build_guests(
        &manifest.join("workflows"),
        &manifest.join("../../target/wasm-guests"),
        &crates,
    );
    for (name, path) in names.iter().zip(&wasm) {
        let var = format!("{}_WASM", name.to_uppercase());
        println!("cargo:rustc-env={var}={}", path.display());
    }
}
