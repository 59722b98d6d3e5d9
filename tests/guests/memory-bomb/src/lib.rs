//! Hostile: allocates and touches memory until something stops it. The host's memory limit
//! must.

use serde_json::Value;
use weft_sdk::Failure;

fn memory_bomb(_input: Value) -> Result<usize, Failure> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 8 << 20];
        block[4096] = 1;
        blocks.push(std::hint::black_box(block));
        if blocks.len() > 1_000_000 {
            return Ok(blocks.len());
        }
    }
}

weft_sdk::workflow!(memory_bomb);
