//! The `keel` binary: everything lives in the `keel_server` library so tests can run it in-process.

fn main() -> std::process::ExitCode {
    keel_server::main()
}
