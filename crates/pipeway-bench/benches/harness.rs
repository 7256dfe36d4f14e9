//! `cargo bench -p pipeway-bench [-- GROUP... --quick --json]`: the same
//! as the `pipeway-bench` program.

fn main() -> std::process::ExitCode {
    pipeway_bench::standalone_main()
}
