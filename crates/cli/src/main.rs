//! `weft`: inspect and drive workflows in a weft database from the command line.

fn main() {
    weft_cli::main()
}
