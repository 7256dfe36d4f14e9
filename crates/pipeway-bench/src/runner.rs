//! Measuring a table: every row started, then rounds of one batch per row
//! (the order rotating each round), then the reference rows measured again
//! to show how far the machine drifted while the others ran.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::cpu::cpu_time;
use crate::table::{Kind, Table};

/// How long to measure.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Measured rounds per table (plus one warm-up round).
    pub rounds: usize,
    /// Divides every table's operations per batch (1 in a full run).
    pub ops_divisor: usize,
    /// The CPU every process of the run is pinned to.
    pub cpu: usize,
}

impl Settings {
    /// The README's run: 21 rounds, full batches.
    pub fn full() -> Self {
        Self {
            rounds: 21,
            ops_divisor: 1,
            cpu: 0,
        }
    }

    /// A smoke run: 3 rounds of batches a tenth as long; noisy, for
    /// checking that every case works.
    pub fn quick() -> Self {
        Self {
            rounds: 3,
            ops_divisor: 10,
            cpu: 0,
        }
    }

    /// Operations per batch for a table of `ops` in a full run.
    pub fn ops(&self, ops: usize) -> usize {
        (ops / self.ops_divisor.max(1)).max(1)
    }

    /// Batches of each reference row measured again after the rounds.
    fn drift_batches(&self) -> usize {
        (self.rounds / 4).max(2)
    }
}

/// What every row's start function gets: the settings, a private directory
/// for sockets and programs, unique names, and where the `pipeway` command is.
#[derive(Debug)]
pub struct Context {
    settings: Settings,
    dir: tempfile::TempDir,
    cli: Option<PathBuf>,
    next: AtomicUsize,
}

impl Context {
    /// A context for a run with `settings`; `cli` is the `pipeway` command,
    /// if the `cli` group may run it. Makes the run's private directory.
    pub fn new(settings: Settings, cli: Option<PathBuf>) -> io::Result<Self> {
        Ok(Self {
            settings,
            dir: tempfile::Builder::new()
                .prefix("pipeway-bench-")
                .tempdir()?,
            cli,
            next: AtomicUsize::new(0),
        })
    }

    /// The run's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The CPU to pin peers to.
    pub fn cpu(&self) -> usize {
        self.settings.cpu
    }

    /// A name no other pipe of this or any other run has: `tag`, this
    /// process's id and a counter.
    pub fn unique(&self, tag: &str) -> String {
        format!(
            "pwbench-{tag}-{}-{}",
            std::process::id(),
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A fresh socket path in the run's directory (removed at the end).
    pub fn socket_path(&self, tag: &str) -> PathBuf {
        self.dir.path().join(format!("{}.sock", self.unique(tag)))
    }

    /// The run's private directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `pipeway` command, when this program is it or knows where it is.
    pub fn cli(&self) -> Option<&Path> {
        self.cli.as_deref()
    }

    /// Builds the C program `source` as `name` in the run's directory with
    /// the machine's C compiler (`CC`, or `cc`), once per run; returns the
    /// executable.
    pub fn build_c(&self, name: &str, source: &str) -> io::Result<PathBuf> {
        let exe = self.dir().join(name);
        if exe.is_file() {
            return Ok(exe);
        }
        let file = self.dir().join(format!("{name}.c"));
        std::fs::write(&file, source)?;
        let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
        let output = std::process::Command::new(&cc)
            .args(["-O2", "-Wall", "-o"])
            .arg(&exe)
            .arg(&file)
            .output()
            .map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "cannot run the C compiler {cc:?} to build {name}: {err} (install gcc)"
                    ),
                )
            })?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "{cc:?} failed to build {name}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(exe)
    }
}

/// One row's outcome.
#[derive(Clone, Debug)]
pub struct RowResult {
    /// The row's name.
    pub name: String,
    /// The rows it is compared with; the first is its baseline.
    pub baselines: Vec<String>,
    /// The median over the rounds of the time per operation.
    pub median: Duration,
    /// Each round's time per operation, in round order.
    pub rounds: Vec<Duration>,
    /// The interquartile range of the rounds over their median.
    pub spread: f64,
    /// The median over the rounds of the CPU time per operation of this
    /// process and the subject's peers, where the system reports it.
    pub cpu: Option<Duration>,
    /// For reference rows: the median of the batches measured after the
    /// rounds over the median of the rounds, minus one.
    pub drift: Option<f64>,
    /// Why the row has no figure (a wrong echo, a peer that failed).
    pub error: Option<String>,
}

/// One table's outcome.
#[derive(Clone, Debug)]
pub struct TableResult {
    /// The group the table belongs to.
    pub group: String,
    /// The table's title.
    pub title: String,
    /// Its message size.
    pub size: usize,
    /// How its figures read.
    pub kind: Kind,
    /// Operations per batch.
    pub ops: usize,
    /// Its rows, in the order added.
    pub rows: Vec<RowResult>,
}

/// Spreads above this (10%) get a warning.
pub const SPREAD_WARNING: f64 = 0.10;

impl TableResult {
    /// The row named `name`.
    pub fn row(&self, name: &str) -> Option<&RowResult> {
        self.rows.iter().find(|row| row.name == name)
    }

    /// `row`'s figure over `baseline`'s, the way round that makes above 1
    /// mean slower for latencies and faster for rates.
    pub fn ratio(&self, row: &RowResult, baseline: &str) -> Option<f64> {
        let base = self.row(baseline)?;
        if row.error.is_some() || base.error.is_some() {
            return None;
        }
        let (this, base) = (row.median.as_secs_f64(), base.median.as_secs_f64());
        Some(match self.kind {
            Kind::Latency => this / base,
            Kind::Throughput { .. } | Kind::Rate => base / this,
        })
    }

    /// As [`ratio`](Self::ratio), of the CPU figures.
    pub fn cpu_ratio(&self, row: &RowResult, baseline: &str) -> Option<f64> {
        let base = self.row(baseline)?;
        let (this, base) = (row.cpu?.as_secs_f64(), base.cpu?.as_secs_f64());
        Some(match self.kind {
            Kind::Latency => this / base,
            Kind::Throughput { .. } | Kind::Rate => base / this,
        })
    }

    /// Whether any row failed.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|row| row.error.is_some())
    }
}

/// The median of `samples` (sorted in place).
fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The interquartile range of `samples` over their median.
fn spread(samples: &[Duration]) -> f64 {
    let mut sorted = samples.to_vec();
    let mid = median(&mut sorted).as_secs_f64();
    if sorted.len() < 2 || mid == 0.0 {
        return 0.0;
    }
    let quartile = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64();
    (quartile(0.75) - quartile(0.25)) / mid
}

/// Measures `table`: all rows started, `rounds` interleaved rounds after a
/// warm-up, the reference rows again at the end.
pub fn run_table(group: &str, table: &Table, cx: &Context) -> TableResult {
    let settings = cx.settings();
    let ops = settings.ops(table.ops);
    let mut subjects: Vec<_> = table.rows.iter().map(|row| (row.start)(cx)).collect();
    let mut rounds = vec![Vec::with_capacity(settings.rounds); table.rows.len()];
    let mut errors: Vec<Option<String>> = subjects
        .iter()
        .map(|s| s.as_ref().err().map(|e| format!("could not start: {e}")))
        .collect();

    // One batch of row `i`: its time per operation, and its CPU time per
    // operation when the system reports it.
    let mut measure = |i: usize, subjects: &mut Vec<io::Result<Box<dyn crate::Subject>>>| {
        if errors[i].is_some() {
            return None;
        }
        let subject = subjects[i].as_mut().expect("started");
        let pids = subject.peer_pids().map(|mut pids| {
            pids.push(std::process::id());
            pids
        });
        let cpu_before = pids.as_deref().and_then(cpu_time);
        match subject.run(ops) {
            Ok(elapsed) => {
                let cpu_after = pids.as_deref().and_then(cpu_time);
                let cpu = match (cpu_before, cpu_after) {
                    (Some(before), Some(after)) => Some(after.saturating_sub(before) / ops as u32),
                    _ => None,
                };
                Some((elapsed / ops as u32, cpu))
            }
            Err(err) => {
                errors[i] = Some(err.to_string());
                None
            }
        }
    };

    let n = table.rows.len();
    let mut cpu_rounds: Vec<Vec<Duration>> = vec![Vec::new(); n];
    for round in 0..=settings.rounds {
        // Rotate the order, so that no row always runs right after another.
        for k in 0..n {
            let i = (round + k) % n;
            if let Some((per_op, cpu)) = measure(i, &mut subjects) {
                if round > 0 {
                    rounds[i].push(per_op);
                    cpu_rounds[i].extend(cpu);
                }
            }
        }
    }

    let mut drift = vec![None; n];
    for (i, row) in table.rows.iter().enumerate() {
        if !table.is_reference(row) {
            continue;
        }
        let mut again: Vec<Duration> = (0..settings.drift_batches())
            .filter_map(|_| measure(i, &mut subjects).map(|(per_op, _)| per_op))
            .collect();
        if !again.is_empty() && !rounds[i].is_empty() {
            let before = median(&mut rounds[i].clone()).as_secs_f64();
            drift[i] = Some(median(&mut again).as_secs_f64() / before - 1.0);
        }
    }

    for (i, subject) in subjects.into_iter().enumerate() {
        if let Ok(subject) = subject {
            if let Err(err) = subject.finish() {
                errors[i].get_or_insert(err.to_string());
            }
        }
    }

    let rows = table
        .rows
        .iter()
        .zip(rounds)
        .zip(errors)
        .zip(drift)
        .zip(cpu_rounds)
        .map(|((((row, rounds), error), drift), mut cpu)| RowResult {
            name: row.name.clone(),
            baselines: row.baselines.clone(),
            median: median(&mut rounds.clone()),
            spread: spread(&rounds),
            cpu: (cpu.len() == rounds.len() && error.is_none()).then(|| median(&mut cpu)),
            rounds,
            drift,
            error,
        })
        .collect();
    TableResult {
        group: group.to_owned(),
        title: table.title.clone(),
        size: table.size,
        kind: table.kind,
        ops,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Subject;
    use std::time::Instant;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn spread_is_the_interquartile_range_over_the_median() {
        let rounds = [us(10), us(10), us(10), us(10), us(10)];
        assert_eq!(spread(&rounds), 0.0);
        let rounds = [us(8), us(9), us(10), us(11), us(100)];
        // Quartiles 9 and 11 around a median of 10: 20%; the outlier does not count.
        assert!((spread(&rounds) - 0.2).abs() < 1e-9);
    }

    /// Sleeps a fixed time per operation; fails its `fail_at`-th batch.
    struct Sleeper {
        per_op: Duration,
        batches: usize,
        fail_at: Option<usize>,
    }

    impl Subject for Sleeper {
        fn run(&mut self, ops: usize) -> io::Result<Duration> {
            self.batches += 1;
            if self.fail_at == Some(self.batches) {
                return Err(crate::verify::mismatch("a wrong echo".into()));
            }
            let started = Instant::now();
            std::thread::sleep(self.per_op * ops as u32);
            Ok(started.elapsed())
        }
        fn peer_pids(&self) -> Option<Vec<u32>> {
            Some(Vec::new())
        }

        fn finish(self: Box<Self>) -> io::Result<()> {
            Ok(())
        }
    }

    fn sleeper(
        per_op_us: u64,
        fail_at: Option<usize>,
    ) -> impl Fn(&Context) -> io::Result<Box<dyn Subject>> {
        move |_| {
            Ok(Box::new(Sleeper {
                per_op: us(per_op_us),
                batches: 0,
                fail_at,
            }))
        }
    }

    #[test]
    fn ratios_read_the_right_way_round() {
        let row = |name: &str, micros: u64| RowResult {
            name: name.into(),
            baselines: vec![],
            median: us(micros),
            rounds: vec![us(micros)],
            spread: 0.0,
            cpu: None,
            drift: None,
            error: None,
        };
        let mut result = TableResult {
            group: "g".into(),
            title: "t".into(),
            size: 0,
            kind: Kind::Latency,
            ops: 1,
            rows: vec![row("base", 10), row("other", 12)],
        };
        let other = result.rows[1].clone();
        assert!((result.ratio(&other, "base").unwrap() - 1.2).abs() < 1e-9);
        // For rates, taking longer per operation is a ratio below 1.
        result.kind = Kind::Throughput { bytes: 1 };
        assert!((result.ratio(&other, "base").unwrap() - 10.0 / 12.0).abs() < 1e-9);
        assert!(result.ratio(&other, "missing").is_none());
    }

    #[test]
    fn rows_are_compared_with_their_baselines_and_failures_are_kept() {
        let table = Table::latency("t", 0, 2)
            .row("base", sleeper(200, None))
            .row_vs("slower", &["base"], sleeper(600, None))
            .row_vs("broken", &["base"], sleeper(200, Some(2)));
        let cx = Context::new(
            Settings {
                rounds: 3,
                ops_divisor: 1,
                cpu: 0,
            },
            None,
        )
        .unwrap();
        let result = run_table("g", &table, &cx);
        let base = result.row("base").unwrap();
        assert_eq!(base.rounds.len(), 3);
        assert!(base.drift.is_some(), "a baseline is measured again");
        let slower = result.row("slower").unwrap();
        assert!(
            slower.drift.is_none(),
            "a row that is nobody's baseline is not"
        );
        assert!(result.ratio(slower, "base").is_some());
        let broken = result.row("broken").unwrap();
        assert!(broken.error.as_deref().unwrap().contains("wrong echo"));
        assert!(result.ratio(broken, "base").is_none());
        assert!(result.failed());
    }
}
