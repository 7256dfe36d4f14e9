//! `pipeway bench`: the pipe benchmarks (`cargo bench -p pipeway-bench`
//! runs the same, plus the `interprocess` crate for comparison).

use std::process::ExitCode;

use clap::Args;

use crate::Result;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// A few seconds instead of about a minute; noisier.
    #[arg(long)]
    quick: bool,
    /// The shared-memory channel against raw Unix sockets instead, each
    /// server in a process of its own (`cargo bench -p pipeway-bench
    /// --bench shm --features iceoryx2` adds iceoryx2).
    #[arg(long)]
    shm: bool,
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.shm {
        let settings = if args.quick {
            pipeway_bench::shm::Settings::quick()
        } else {
            pipeway_bench::shm::Settings::full()
        };
        println!(
            "Servers in their own processes; medians of {} batches; ratios against the first row.\n",
            settings.batches
        );
        for table in pipeway_bench::shm::run(&settings) {
            table.print();
        }
        return Ok(ExitCode::SUCCESS);
    }
    let settings = if args.quick {
        pipeway_bench::pipes::Settings::quick()
    } else {
        pipeway_bench::pipes::Settings::full()
    };
    println!(
        "Both ends pinned to CPU 0; medians of {} batches; ratios against the first row.\n",
        settings.batches
    );
    for table in pipeway_bench::pipes::run(&settings) {
        table.print();
    }
    Ok(ExitCode::SUCCESS)
}
