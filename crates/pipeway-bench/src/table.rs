//! What a case is: a [`Table`] of rows measured together, each row a
//! [`Subject`] started fresh for the table and compared with its baseline
//! row in the same table.

use std::io;
use std::time::Duration;

use crate::Context;

/// How a table's figures read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Time per operation (a round trip, a call); lower is better. JSON:
    /// `median_ns`.
    Latency,
    /// Each operation moves `bytes` bytes; shown as a rate, higher is
    /// better. JSON: `bytes_per_s`.
    Throughput {
        /// Bytes moved by one operation.
        bytes: u64,
    },
    /// Each operation is one event (a message reaching every client, say);
    /// shown as events per second, higher is better. JSON: `per_s`.
    Rate,
}

/// One measured thing, connected and ready: a client in this process, its
/// server (a [`Peer`](crate::Peer)) in another.
pub trait Subject {
    /// Performs `ops` operations, checking what came back, and returns how
    /// long they took. A wrong echo is an error (`InvalidData`), not a figure.
    fn run(&mut self, ops: usize) -> io::Result<Duration>;

    /// The processes besides this one that do the subject's work (its
    /// peers), whose CPU time counts toward its CPU figure (`cpu/op`,
    /// `cpu_ns`). `None`, the default: the row shows no CPU figure.
    fn peer_pids(&self) -> Option<Vec<u32>> {
        None
    }

    /// Disconnects and waits for the peer to end; a peer that failed (one
    /// that saw wrong bytes, say) makes this an error.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Starts a row's subject; called once per run of its table.
pub type Start = Box<dyn Fn(&Context) -> io::Result<Box<dyn Subject>>>;

/// One row of a table.
pub struct Row {
    pub(crate) name: String,
    /// The rows this one is compared with; the first is its baseline.
    pub(crate) baselines: Vec<String>,
    pub(crate) start: Start,
}

/// Cases measured together, in interleaved rounds, each row compared with
/// its baseline row.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pipeway_bench::{Subject, Table};
///
/// struct Spin;
/// impl Subject for Spin {
///     fn run(&mut self, ops: usize) -> std::io::Result<Duration> {
///         let started = Instant::now();
///         for i in 0..ops {
///             std::hint::black_box(i);
///         }
///         Ok(started.elapsed())
///     }
///     fn peer_pids(&self) -> Option<Vec<u32>> {
///         Some(Vec::new()) // no peer: this process does all the work
///     }
///     fn finish(self: Box<Self>) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let table = Table::latency("Spinning, 0 B", 0, 1000)
///     .row("spin", |_| Ok(Box::new(Spin)))
///     .row_vs("spin again", &["spin"], |_| Ok(Box::new(Spin)));
/// assert_eq!(table.title(), "Spinning, 0 B");
/// ```
pub struct Table {
    pub(crate) title: String,
    pub(crate) size: usize,
    pub(crate) kind: Kind,
    pub(crate) ops: usize,
    pub(crate) rows: Vec<Row>,
}

impl Table {
    /// A table of times per operation; `size` is the message size (0 when
    /// none applies) and `ops` the operations per batch in a full run.
    pub fn latency(title: impl Into<String>, size: usize, ops: usize) -> Self {
        Self::new(title, size, Kind::Latency, ops)
    }

    /// A table of transfer rates; one operation moves `bytes_per_op` bytes
    /// in messages or writes of `size` bytes.
    pub fn throughput(
        title: impl Into<String>,
        size: usize,
        bytes_per_op: u64,
        ops: usize,
    ) -> Self {
        Self::new(
            title,
            size,
            Kind::Throughput {
                bytes: bytes_per_op,
            },
            ops,
        )
    }

    /// A table of event rates.
    pub fn rate(title: impl Into<String>, size: usize, ops: usize) -> Self {
        Self::new(title, size, Kind::Rate, ops)
    }

    fn new(title: impl Into<String>, size: usize, kind: Kind, ops: usize) -> Self {
        assert!(ops > 0, "a batch has at least one operation");
        Self {
            title: title.into(),
            size,
            kind,
            ops,
            rows: Vec::new(),
        }
    }

    /// Adds a baseline row (compared with nothing).
    pub fn row(
        self,
        name: impl Into<String>,
        start: impl Fn(&Context) -> io::Result<Box<dyn Subject>> + 'static,
    ) -> Self {
        self.row_vs(name, &[], start)
    }

    /// Adds a row compared with the named rows of this table (added before
    /// it); the first is its baseline (JSON `baseline` and `ratio`), the
    /// others give further ratios (JSON `ratios`).
    pub fn row_vs(
        mut self,
        name: impl Into<String>,
        baselines: &[&str],
        start: impl Fn(&Context) -> io::Result<Box<dyn Subject>> + 'static,
    ) -> Self {
        let name = name.into();
        for baseline in baselines {
            assert!(
                self.rows.iter().any(|row| row.name == *baseline),
                "{name}: baseline row {baseline:?} must be added before it"
            );
        }
        assert!(
            self.rows.iter().all(|row| row.name != name),
            "two rows named {name:?}"
        );
        self.rows.push(Row {
            name,
            baselines: baselines.iter().map(|b| (*b).to_owned()).collect(),
            start: Box::new(start),
        });
        self
    }

    /// The table's title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The message size the table measures.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Keeps only the rows whose names `keep` accepts; the others, and
    /// comparisons with them, are dropped.
    pub fn retain_rows(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.rows.retain(|row| keep(&row.name));
        let names: Vec<String> = self.rows.iter().map(|row| row.name.clone()).collect();
        for row in &mut self.rows {
            row.baselines.retain(|base| names.contains(base));
        }
    }

    /// Whether `row` is some other row's baseline, or compared with nothing.
    pub(crate) fn is_reference(&self, row: &Row) -> bool {
        row.baselines.is_empty()
            || self
                .rows
                .iter()
                .any(|other| other.baselines.contains(&row.name))
    }
}

/// `64 B`, `4 KiB`, `1 MiB`.
pub fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_label(64), "64 B");
        assert_eq!(size_label(4096), "4 KiB");
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(size_label(1000), "1000 B");
    }

    #[test]
    #[should_panic(expected = "must be added before it")]
    fn a_baseline_is_a_row_of_the_same_table() {
        let _ = Table::latency("t", 0, 1).row_vs("a", &["missing"], |_| unreachable!());
    }
}
