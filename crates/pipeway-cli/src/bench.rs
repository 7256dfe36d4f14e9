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
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
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
