//! Bytes offered as a workflow component to `Sandbox::compile`, the admission every component
//! passes when it is registered (size, validity, allowed imports, the workflow world), then
//! compiled: the raw input as it is and behind a component header, and a `wasm-smith` module
//! (of a fuzzed configuration) as it is and inside a component.
//!
//! Property: admission never panics: it admits the component or refuses it with an error that
//! says why.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use weft_core::limits::Limits;
use weft_wasm::Sandbox;

static SANDBOX: LazyLock<Sandbox> =
    LazyLock::new(|| Sandbox::new(Limits::default()).expect("the sandbox's engine"));

/// The preamble of a component binary: magic, version 0xd, layer 1.
const COMPONENT_HEADER: &[u8] = b"\0asm\x0d\x00\x01\x00";

fuzz_target!(|data: &[u8]| {
    admit(data);
    if !data.starts_with(b"\0asm") {
        admit(&[COMPONENT_HEADER, data].concat());
    }
    let mut u = Unstructured::new(data);
    let Ok(config) = wasm_smith::Config::arbitrary(&mut u) else {
        return;
    };
    if let Ok(module) = wasm_smith::Module::new(config, &mut u) {
        let module = module.to_bytes();
        admit(&module);
        admit(&component_of(&module));
    }
});

fn admit(bytes: &[u8]) {
    if let Err(e) = SANDBOX.compile("fuzz", bytes) {
        assert!(
            !e.to_string().is_empty(),
            "a refusal without a message: {e:?}"
        );
    }
}

/// A component whose only content is the core module `module` (section 1, "core module").
fn component_of(module: &[u8]) -> Vec<u8> {
    let mut out = COMPONENT_HEADER.to_vec();
    out.push(1);
    let mut size = module.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(module);
    out
}
