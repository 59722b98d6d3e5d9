//! Hostile: recurses without end. The host's wasm stack limit must stop it.

use serde_json::Value;
use weft_sdk::Failure;

#[inline(never)]
fn down(depth: u64, pad: [u64; 16]) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let mut next = std::hint::black_box(pad);
    next[(depth % 16) as usize] = depth;
    down(depth + 1, next) + next[0]
}

fn deep_recursion(_input: Value) -> Result<u64, Failure> {
    Ok(down(0, [0; 16]))
}

weft_sdk::workflow!(deep_recursion);
