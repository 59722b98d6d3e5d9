//! Builds the test workflows in guests/ and the order example's workflow to components and
//! exports their paths to `src/lib.rs`.
use std::path::Path;

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = manifest.join("../target/wasm-guests");
    let names = [
        "steps",
        "steps-changed",
        "fails",
        "probe",
        "forbidden",
        "features",
        "semantics",
        "versioned-v1",
        "versioned-v2",
        "wasi-probe",
        "fanout",
        "coroutines",
        "spin",
        "memory-bomb",
        "deep-recursion",
        "replay-trap",
        "huge-output",
        "log-flood",
        "command-flood",
        "wrong-world",
    ];
    let wasm = weft_guest_build::build_guests(&manifest.join("guests"), &target, &names);
    for (name, path) in names.iter().zip(&wasm) {
        let var = format!("WEFT_TEST_{}_WASM", name.replace('-', "_").to_uppercase());
        println!("cargo:rustc-env={var}={}", path.display());
    }
    let order = weft_guest_build::build_guests(
        &manifest.join("../examples/order/workflow"),
        &target,
        &["order-workflow"],
    );
    println!(
        "cargo:rustc-env=WEFT_TEST_ORDER_WASM={}",
        order[0].display()
    );
}
