//! CPU time, of this process and of peers: what a case costs the machine,
//! whatever else ran on the CPU meanwhile.
//!
//! On a busy machine other programs take turns on the benchmark's CPU and
//! stretch its wall-clock figures; the CPU time the case's own processes
//! used is far steadier. On a quiet machine, with every process on one CPU,
//! the two agree (the CPU is never idle while a round trip is in flight).

use std::time::Duration;

/// Nanoseconds that all threads of the processes `pids` have spent on a
/// CPU (Linux's `/proc/PID/task/TID/schedstat`); `None` where that is not
/// available.
pub fn cpu_time(pids: &[u32]) -> Option<Duration> {
    let mut total = 0u64;
    for pid in pids {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for task in tasks.flatten() {
            // A thread that ended since the listing has no schedstat any
            // more: it is skipped, not taken for "unavailable".
            let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(Duration::from_nanos(total))
}

// Linux only: the figures come from `/proc`.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_while_this_process_works() {
        let me = [std::process::id()];
        let before = cpu_time(&me).expect("schedstat on Linux");
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(cpu_time(&me).unwrap() > before);
    }

    /// Threads that come and go while the figure is taken (as other tests'
    /// threads do) never make it unavailable.
    #[test]
    fn threads_ending_meanwhile_do_not_make_it_unavailable() {
        let me = [std::process::id()];
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::spawn(|| {}).join().unwrap();
                }
            })
        };
        for _ in 0..2000 {
            assert!(cpu_time(&me).is_some());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
    }
}
