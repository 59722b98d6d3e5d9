//! SplitMix64, the one generator behind every seeded sequence of weft: a workflow's random
//! values (`weft-replay`'s `SeededRng`), the seeded ids of a simulation (`ids::fresh_u64`) and
//! the simulator's choices. Its output is fixed by its seed forever: histories written today
//! replay identically with any later release.

/// Advances `state` and returns the next 64 bits.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
