//! Pinning to one CPU.
//!
//! On the 2-vCPU machines this project is measured on, where the scheduler
//! puts the two ends of a round trip decides the result (about 11 µs on one
//! CPU, 55 µs across two: the cost of waking an idle vCPU). So the harness
//! pins itself, and with it every peer it starts, to one CPU.

/// Pins the calling thread (and the processes and threads it starts later)
/// to `cpu`; warns and carries on if it cannot.
pub fn pin_to_cpu(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        if let Err(err) = rustix::thread::sched_setaffinity(None, &set) {
            eprintln!("warning: cannot pin to CPU {cpu}: {err}; results will be noisier");
        }
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("warning: pinning to CPU {cpu} is not implemented here; results will be noisier");
}
