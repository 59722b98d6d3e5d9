//! Builds the test workflows in guests/ and the order example's workflow to components, and
//! the Python and TypeScript workflows (examples and tests/guests-py, tests/guests-ts), and
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
        "conformance",
        "script",
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
    polyglot(manifest);
}

/// Python and TypeScript guests: the examples, the conformance and probe workflows, a second
/// build of the conformance workflow from the same sources, and the order example with one
/// activity renamed (code that no longer matches its histories).
fn polyglot(manifest: &Path) {
    let repo = manifest.join("..");
    let out = manifest.join("../target/polyglot-guests");
    let toolchains = manifest.join("../target/guest-toolchains");
    let changed = out.join("changed");
    for (lang, ext, examples, guests) in [
        ("PY", "py", "examples/python", "tests/guests-py"),
        ("TS", "ts", "examples/typescript", "tests/guests-ts"),
    ] {
        let mut jobs = vec![
            (format!("{examples}/order/workflow.{ext}"), "ORDER"),
            (format!("{examples}/approval/workflow.{ext}"), "APPROVAL"),
            (format!("{guests}/conformance.{ext}"), "CONFORMANCE"),
            (format!("{guests}/probe.{ext}"), "PROBE"),
        ];
        // The changed order workflow: charges with another activity type.
        let order_src = repo.join(&jobs[0].0);
        println!("cargo:rerun-if-changed={}", order_src.display());
        let text = std::fs::read_to_string(&order_src)
            .unwrap_or_else(|e| panic!("{}: {e}", order_src.display()));
        let dir = changed.join(ext);
        std::fs::create_dir_all(&dir).unwrap();
        let changed_src = dir.join(format!("order_changed.{ext}"));
        // Every mention: a string in Python, the typed activity proxy's name in TypeScript.
        let new = text.replace("charge_card", "charge_card_v2");
        assert_ne!(new, text, "{} schedules charge_card", order_src.display());
        if std::fs::read_to_string(&changed_src).ok().as_deref() != Some(new.as_str()) {
            std::fs::write(&changed_src, new).unwrap();
        }
        for (src, name) in jobs.drain(..) {
            let src = repo.join(src);
            let wasm = out.join(format!("{}-{}.wasm", ext, name.to_lowercase()));
            let path = weft_guest_build::build_polyglot_guest(&src, &wasm, &toolchains);
            println!(
                "cargo:rustc-env=WEFT_TEST_{lang}_{name}_WASM={}",
                path.display()
            );
        }
        let wasm = out.join(format!("{ext}-order-changed.wasm"));
        let path = weft_guest_build::build_polyglot_guest(&changed_src, &wasm, &toolchains);
        println!(
            "cargo:rustc-env=WEFT_TEST_{lang}_ORDER_CHANGED_WASM={}",
            path.display()
        );
        // Rebuilds of unchanged sources: their own builds, not copies (the probe's shows
        // Python's pinned hash seed).
        let rebuilt: &[&str] = if ext == "py" {
            &["conformance", "probe"]
        } else {
            &["conformance"]
        };
        for name in rebuilt {
            let wasm = out.join(format!("{ext}-{name}-rebuilt.wasm"));
            let src = repo.join(format!("{guests}/{name}.{ext}"));
            let path = weft_guest_build::build_polyglot_guest(&src, &wasm, &toolchains);
            println!(
                "cargo:rustc-env=WEFT_TEST_{lang}_{}_REBUILT_WASM={}",
                name.to_uppercase(),
                path.display()
            );
        }
    }
}
