//! `pipeway bench`: the benchmark of `pipeway-bench`, process to process
//! (this program is its own peer: see `pipeway_bench::serve_peer_if_asked`).

use std::process::ExitCode;

use crate::Result;

pub(crate) use pipeway_bench::BenchArgs;

/// The groups this build has (the gRPC group only with the `bench-grpc`
/// feature, so that the default build does not compile tonic for it).
pub(crate) fn registry() -> pipeway_bench::Registry {
    pipeway_bench::Registry::standard()
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    let this = std::env::current_exe()?;
    if pipeway_bench::run(&args, &registry(), Some(this))? {
        Ok(ExitCode::SUCCESS)
    } else {
        Err("some cases failed (see above)".into())
    }
}
