//! `weft`: inspect and drive workflows in a weft database from the command line (see
//! `weft::cli`).

fn main() {
    weft::cli::main()
}
