//! The `reckon` binary: all logic lives in the library.

fn main() -> std::process::ExitCode {
    reckon::cli::main()
}
