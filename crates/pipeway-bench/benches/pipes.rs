//! `cargo bench -p pipeway-bench --bench pipes`: byte- and message-mode
//! round trips and throughput, pipeway against raw Unix sockets (and the
//! `interprocess` crate), in one run. The README's tables come from here.

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let settings = if quick {
        pipeway_bench::pipes::Settings::quick()
    } else {
        pipeway_bench::pipes::Settings::full()
    };
    for table in pipeway_bench::pipes::run(&settings) {
        table.print();
    }
}
