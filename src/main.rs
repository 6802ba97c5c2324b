//! The `bitlab` command line. Thin: parsing and printing live in `cli`, the work in the library.
mod cli;

fn main() -> std::process::ExitCode {
    bitlab::kernels::omp_wait::reexec_with_short_omp_spin();
    cli::main()
}
