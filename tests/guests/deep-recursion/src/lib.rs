//! Hostile: recurses without end. With `{"native": true}` the frames live on the wasm stack
//! only and the host's wasm stack limit must stop it; otherwise each frame also takes the
//! guest's own stack in linear memory, and overflowing that traps.

use serde::Deserialize;
use weft_sdk::Failure;

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    native: bool,
}

#[inline(never)]
fn shadow(depth: u64, pad: [u64; 16]) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let mut next = std::hint::black_box(pad);
    next[(depth % 16) as usize] = depth;
    shadow(depth + 1, next) + next[0]
}

#[inline(never)]
fn native(n: u64) -> u64 {
    if n == 0 {
        return 1;
    }
    native(n - 1)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(n)
}

fn deep_recursion(input: Input) -> Result<u64, Failure> {
    if input.native {
        Ok(native(u64::MAX))
    } else {
        Ok(shadow(0, [0; 16]))
    }
}

weft_sdk::workflow!(deep_recursion);
