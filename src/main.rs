//! The `bitlab` command line. Thin: parsing and printing live in `cli`, the work in the library.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
