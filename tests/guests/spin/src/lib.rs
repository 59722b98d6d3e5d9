//! Hostile: computes forever without waiting. The host must interrupt it at the task CPU limit.

use serde_json::Value;
use weft_sdk::Failure;

fn spin(_input: Value) -> Result<u64, Failure> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

weft_sdk::workflow!(spin);
