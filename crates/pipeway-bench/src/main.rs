//! `pipeway-bench`: the benchmark without the `pipeway` command around it
//! (`cargo run --release -p pipeway-bench -- [GROUP...] [--quick] [--json]`).

fn main() -> std::process::ExitCode {
    pipeway_bench::standalone_main()
}
