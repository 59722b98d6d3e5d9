//! The `weft` command line, built into this package so its tests can run it.

fn main() {
    weft_cli::main()
}
