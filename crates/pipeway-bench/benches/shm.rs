//! `cargo bench -p pipeway-bench --bench shm [--features iceoryx2] [-- --quick]`:
//! the shared-memory channel against raw Unix sockets (and iceoryx2),
//! process to process. The README's shared-memory tables come from here.

fn main() {
    pipeway_bench::shm::serve_if_peer();
    let quick = std::env::args().any(|arg| arg == "--quick");
    let settings = if quick {
        pipeway_bench::shm::Settings::quick()
    } else {
        pipeway_bench::shm::Settings::full()
    };
    for table in pipeway_bench::shm::run(&settings) {
        table.print();
    }
}
