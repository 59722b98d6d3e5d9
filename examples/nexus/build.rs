//! Compiles the checkout and charge workflows in workflows/ to wasm32-wasip2 components.
use std::path::Path;

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wasm = weft_guest_build::build_guests(
        &manifest.join("workflows"),
        &manifest.join("../../target/wasm-guests"),
        &["checkout-workflow", "charge-workflow"],
    );
    println!(
        "cargo:rustc-env=CHECKOUT_WORKFLOW_WASM={}",
        wasm[0].display()
    );
    println!("cargo:rustc-env=CHARGE_WORKFLOW_WASM={}", wasm[1].display());
}
