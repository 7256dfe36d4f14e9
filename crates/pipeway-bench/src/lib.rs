//! The harness pipeway's benchmarks share.
//!
//! On the 2-vCPU machines this project is measured on, where the scheduler
//! puts the two ends of a round trip decides the result (about 11 µs on one
//! CPU, 55 µs across two, the cost of waking an idle vCPU). So every
//! benchmark pins both ends to one CPU with [`pin_to_cpu`], measures each
//! case as the median of many batches, and reports each case as a ratio to
//! a baseline measured in the same run, never as an absolute time alone.
//!
//! ```no_run
//! use pipeway_bench::{Table, median_per_op, pin_to_cpu};
//!
//! pin_to_cpu(0);
//! let mut table = Table::latency("64 B round trip");
//! table.add("raw", median_per_op(20, 1000, || { /* one round trip */ }));
//! table.add("pipeway", median_per_op(20, 1000, || { /* one round trip */ }));
//! table.print();
//! ```

pub mod pipes;
#[cfg(target_os = "linux")]
pub mod shm;
#[cfg(all(target_os = "linux", feature = "iceoryx2"))]
mod shm_iceoryx;

use std::time::{Duration, Instant};

/// Pins the calling thread to `cpu`. Both ends of a round trip should call
/// it with the same CPU, so the measurement does not depend on where the
/// scheduler happens to put them.
pub fn pin_to_cpu(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    if let Err(err) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("warning: cannot pin to CPU {cpu}: {err}; results will be noisier");
    }
}

/// Runs `op` in `batches` batches of `ops_per_batch` calls, after one batch
/// of warm-up, and returns the median time per call.
pub fn median_per_op(batches: usize, ops_per_batch: usize, mut op: impl FnMut()) -> Duration {
    let mut timer = Batches::new(batches, ops_per_batch);
    while let Some(ops) = timer.next_batch() {
        for _ in 0..ops {
            op();
        }
    }
    timer.median()
}

/// Times batches of operations by hand, for loops that [`median_per_op`]
/// cannot wrap (async code, say). The first batch is a warm-up.
///
/// ```
/// let mut timer = pipeway_bench::Batches::new(5, 100);
/// while let Some(ops) = timer.next_batch() {
///     for _ in 0..ops {
///         std::hint::black_box(1 + 1);
///     }
/// }
/// let per_op = timer.median();
/// # let _ = per_op;
/// ```
#[derive(Debug)]
pub struct Batches {
    batches: usize,
    ops_per_batch: usize,
    started: Option<Instant>,
    warmed_up: bool,
    per_op: Vec<Duration>,
}

impl Batches {
    /// `batches` measured batches (plus a warm-up) of `ops_per_batch` each.
    pub fn new(batches: usize, ops_per_batch: usize) -> Self {
        assert!(batches > 0 && ops_per_batch > 0);
        Self {
            batches,
            ops_per_batch,
            started: None,
            warmed_up: false,
            per_op: Vec::with_capacity(batches),
        }
    }

    /// Ends the batch in progress and starts the next: returns how many
    /// operations to run, or `None` when every batch is done.
    pub fn next_batch(&mut self) -> Option<usize> {
        if let Some(started) = self.started.take() {
            if self.warmed_up {
                self.per_op
                    .push(started.elapsed() / self.ops_per_batch as u32);
            }
            self.warmed_up = true;
        }
        if self.per_op.len() == self.batches {
            return None;
        }
        self.started = Some(Instant::now());
        Some(self.ops_per_batch)
    }

    /// The median time per operation over the measured batches.
    pub fn median(&self) -> Duration {
        let mut sorted = self.per_op.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

/// How a table's figures compare: time per operation (lower is better) or
/// bytes or operations per second (higher is better).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Each figure is a median time per operation.
    Latency,
    /// Each figure is a time per operation moving `bytes` bytes, shown as a rate.
    Throughput {
        /// Bytes moved by one operation.
        bytes: u64,
    },
    /// Each figure is a time per operation, shown as operations per second.
    Rate,
}

/// One benchmark's results: the first row added is the baseline, and every
/// row shows its ratio to it.
#[derive(Debug)]
pub struct Table {
    title: String,
    kind: Kind,
    rows: Vec<(String, Duration)>,
}

impl Table {
    /// A table of round-trip or call latencies.
    pub fn latency(title: impl Into<String>) -> Self {
        Self::new(title, Kind::Latency)
    }

    /// A table of transfer rates; each operation moves `bytes` bytes.
    pub fn throughput(title: impl Into<String>, bytes: u64) -> Self {
        Self::new(title, Kind::Throughput { bytes })
    }

    /// A table of operation rates (messages per second, say).
    pub fn rate(title: impl Into<String>) -> Self {
        Self::new(title, Kind::Rate)
    }

    /// A table of the given kind.
    pub fn new(title: impl Into<String>, kind: Kind) -> Self {
        Self {
            title: title.into(),
            kind,
            rows: Vec::new(),
        }
    }

    /// Adds a case; the first case added is the baseline.
    pub fn add(&mut self, case: impl Into<String>, per_op: Duration) {
        self.rows.push((case.into(), per_op));
    }

    /// The ratio of `case` to the baseline, as the table prints it: time over
    /// the baseline's time for latencies, rate over the baseline's rate
    /// otherwise.
    pub fn ratio(&self, case: &str) -> Option<f64> {
        let (_, base) = self.rows.first()?;
        let (_, this) = self.rows.iter().find(|(name, _)| name == case)?;
        Some(match self.kind {
            Kind::Latency => this.as_secs_f64() / base.as_secs_f64(),
            Kind::Throughput { .. } | Kind::Rate => base.as_secs_f64() / this.as_secs_f64(),
        })
    }

    fn figure(&self, per_op: Duration) -> String {
        match self.kind {
            Kind::Latency => format!("{:.2} µs", per_op.as_secs_f64() * 1e6),
            Kind::Throughput { bytes } => {
                format!("{:.2} GB/s", bytes as f64 / per_op.as_secs_f64() / 1e9)
            }
            Kind::Rate => format!("{:.0} /s", 1.0 / per_op.as_secs_f64()),
        }
    }

    /// The table in Markdown, as the README quotes it.
    pub fn to_markdown(&self) -> String {
        let Some((base, _)) = self.rows.first() else {
            return String::new();
        };
        let column = match self.kind {
            Kind::Latency => "median",
            Kind::Throughput { .. } => "throughput (median)",
            Kind::Rate => "rate (median)",
        };
        let mut out = format!(
            "**{}**\n\n| case | {column} | vs {base} |\n|---|---:|---:|\n",
            self.title
        );
        for (case, per_op) in &self.rows {
            let ratio = self.ratio(case).unwrap_or(f64::NAN);
            out.push_str(&format!(
                "| {case} | {} | {ratio:.2}× |\n",
                self.figure(*per_op)
            ));
        }
        out
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        println!("{}", self.to_markdown());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_read_the_right_way_round() {
        let mut latency = Table::latency("rt");
        latency.add("raw", Duration::from_micros(10));
        latency.add("slower", Duration::from_micros(12));
        assert!((latency.ratio("slower").unwrap() - 1.2).abs() < 1e-9);

        let mut throughput = Table::throughput("tp", 1 << 20);
        throughput.add("raw", Duration::from_micros(100));
        throughput.add("faster", Duration::from_micros(50));
        assert!((throughput.ratio("faster").unwrap() - 2.0).abs() < 1e-9);
        assert!(throughput.to_markdown().contains("| faster |"));
    }

    #[test]
    fn the_median_ignores_outliers() {
        let mut calls = 0u32;
        let per_op = median_per_op(5, 1, || {
            calls += 1;
            if calls == 3 {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        assert!(per_op < Duration::from_millis(50));
    }
}
