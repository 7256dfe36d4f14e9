//! Printing results: aligned tables for people, Markdown for the README,
//! one JSON object per case for machines.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::runner::{RowResult, SPREAD_WARNING, TableResult};
use crate::table::Kind;

/// A row's figure as people read it.
fn figure(kind: Kind, row: &RowResult) -> String {
    if row.error.is_some() {
        return "failed".into();
    }
    let secs = row.median.as_secs_f64();
    match kind {
        Kind::Latency if secs < 1e-6 => format!("{:.0} ns", secs * 1e9),
        Kind::Latency => format!("{:.2} µs", secs * 1e6),
        Kind::Throughput { bytes } => format!("{:.2} GB/s", bytes as f64 / secs / 1e9),
        Kind::Rate => format!("{:.0} /s", 1.0 / secs),
    }
}

/// "1.06× raw SOCK_SEQPACKET", with further ratios after a semicolon.
fn ratios(table: &TableResult, row: &RowResult) -> String {
    row.baselines
        .iter()
        .map(|base| match table.ratio(row, base) {
            Some(ratio) => format!("{ratio:.2}× {base}"),
            None => format!("– {base}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// CPU time per operation, and its ratio to the first baseline's.
fn cpu(table: &TableResult, row: &RowResult) -> String {
    let Some(cpu) = row.cpu else {
        return String::new();
    };
    let secs = cpu.as_secs_f64();
    let figure = if secs < 1e-6 {
        format!("{:.0} ns", secs * 1e9)
    } else {
        format!("{:.2} µs", secs * 1e6)
    };
    match row.baselines.first().and_then(|b| table.cpu_ratio(row, b)) {
        Some(ratio) => format!("{figure} ({ratio:.2}×)"),
        None => figure,
    }
}

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn heading(table: &TableResult) -> String {
    let rounds = table.rows.first().map_or(0, |row| row.rounds.len());
    format!("{}  ({rounds} rounds × {} ops)", table.title, table.ops)
}

/// Lines under a table: drift of the reference rows, spread warnings, failures.
fn notes(table: &TableResult) -> Vec<String> {
    let mut notes = Vec::new();
    let drift: Vec<String> = table
        .rows
        .iter()
        .filter_map(|row| Some(format!("{} {:+.1}%", row.name, row.drift? * 100.0)))
        .collect();
    if !drift.is_empty() {
        notes.push(format!(
            "drift (reference rows measured again at the end): {}",
            drift.join(", ")
        ));
    }
    for row in &table.rows {
        if row.error.is_none() && row.spread > SPREAD_WARNING {
            notes.push(format!(
                "warning: the rounds of {} disagree by {} (interquartile range over median); rerun on a quieter machine",
                row.name,
                percent(row.spread)
            ));
        }
        if let Some(error) = &row.error {
            notes.push(format!("FAILED: {}: {error}", row.name));
        }
    }
    notes
}

/// The table aligned in columns, for a terminal.
pub fn text(table: &TableResult) -> String {
    let header = ["case", "median", "vs", "spread", "cpu/op"];
    let cells: Vec<[String; 5]> = table
        .rows
        .iter()
        .map(|row| {
            [
                row.name.clone(),
                figure(table.kind, row),
                ratios(table, row),
                if row.error.is_some() {
                    String::new()
                } else {
                    percent(row.spread)
                },
                cpu(table, row),
            ]
        })
        .collect();
    let width = |col: usize| {
        cells
            .iter()
            .map(|c| c[col].chars().count())
            .chain([header[col].len()])
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2), width(3), width(4)];
    let mut out = format!("{}\n", heading(table));
    let line = |c: &[String; 5]| {
        let line = format!(
            "  {:<w0$}  {:>w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
        format!("{}\n", line.trim_end())
    };
    out.push_str(&line(&header.map(String::from)));
    for row in &cells {
        out.push_str(&line(row));
    }
    for note in notes(table) {
        let _ = writeln!(out, "  {note}");
    }
    out
}

/// The table in Markdown, as the README quotes it.
pub fn markdown(table: &TableResult) -> String {
    let mut out = format!(
        "**{}**\n\n| case | median | vs | spread | cpu/op |\n|---|---:|---|---:|---:|\n",
        heading(table)
    );
    for row in &table.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.name,
            figure(table.kind, row),
            ratios(table, row),
            if row.error.is_some() {
                String::new()
            } else {
                percent(row.spread)
            },
            cpu(table, row)
        );
    }
    let notes = notes(table);
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            let _ = writeln!(out, "{note}  ");
        }
    }
    out
}

/// One JSON object per row: `group`, `table`, `case`, `size`, the figure
/// (`median_ns`, or `bytes_per_s` / `per_s` for rates), `baseline` and
/// `ratio` (null for a baseline row), further `ratios`, `cpu_ns` (CPU time
/// per operation of this process and the peers) and `cpu_ratio`, `spread`, `drift`
/// (reference rows) and `baseline_drift`, `rounds`, `ops`, `verified`, and
/// `error` when the row failed.
pub fn json(table: &TableResult) -> Vec<Value> {
    table
        .rows
        .iter()
        .map(|row| {
            let mut object = Map::new();
            object.insert("group".into(), json!(table.group));
            object.insert("table".into(), json!(table.title));
            object.insert("case".into(), json!(row.name));
            object.insert("size".into(), json!(table.size));
            let ok = row.error.is_none();
            let secs = row.median.as_secs_f64();
            match table.kind {
                Kind::Latency => {
                    object.insert("median_ns".into(), ok.then_some(secs * 1e9).into());
                }
                Kind::Throughput { bytes } => {
                    object.insert(
                        "bytes_per_s".into(),
                        ok.then_some(bytes as f64 / secs).into(),
                    );
                }
                Kind::Rate => {
                    object.insert("per_s".into(), ok.then_some(1.0 / secs).into());
                }
            }
            let baseline = row.baselines.first();
            object.insert("baseline".into(), json!(baseline));
            object.insert(
                "ratio".into(),
                baseline.and_then(|b| table.ratio(row, b)).into(),
            );
            let mut others = Map::new();
            for base in row.baselines.iter().skip(1) {
                others.insert(base.clone(), table.ratio(row, base).into());
            }
            object.insert("ratios".into(), Value::Object(others));
            object.insert(
                "cpu_ns".into(),
                row.cpu.map(|cpu| cpu.as_secs_f64() * 1e9).into(),
            );
            object.insert(
                "cpu_ratio".into(),
                baseline.and_then(|b| table.cpu_ratio(row, b)).into(),
            );
            object.insert("spread".into(), json!(row.spread));
            object.insert("drift".into(), row.drift.into());
            object.insert(
                "baseline_drift".into(),
                baseline
                    .and_then(|b| table.row(b))
                    .and_then(|b| b.drift)
                    .into(),
            );
            object.insert("rounds".into(), json!(row.rounds.len()));
            object.insert("ops".into(), json!(table.ops));
            object.insert("verified".into(), json!(ok));
            if let Some(error) = &row.error {
                object.insert("error".into(), json!(error));
            }
            Value::Object(object)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result() -> TableResult {
        let row = |name: &str, baselines: &[&str], micros: u64| RowResult {
            name: name.into(),
            baselines: baselines.iter().map(|b| (*b).into()).collect(),
            median: Duration::from_micros(micros),
            rounds: vec![Duration::from_micros(micros); 3],
            spread: 0.02,
            cpu: Some(Duration::from_micros(micros)),
            drift: None,
            error: None,
        };
        let mut base = row("raw", &[], 10);
        base.drift = Some(0.015);
        let mut noisy = row("noisy", &["raw"], 11);
        noisy.spread = 0.25;
        let mut broken = row("broken", &["raw", "noisy"], 10);
        broken.error = Some("the reply differs".into());
        TableResult {
            group: "g".into(),
            title: "Round trip, 64 B".into(),
            size: 64,
            kind: Kind::Latency,
            ops: 100,
            rows: vec![base, noisy, broken],
        }
    }

    #[test]
    fn json_has_one_object_per_case_with_its_ratio() {
        let objects = json(&result());
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[0]["case"], "raw");
        assert!(objects[0]["baseline"].is_null() && objects[0]["ratio"].is_null());
        assert_eq!(objects[0]["drift"], 0.015);
        assert_eq!(objects[1]["baseline"], "raw");
        assert!((objects[1]["ratio"].as_f64().unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(objects[1]["baseline_drift"], 0.015);
        assert_eq!(objects[1]["median_ns"], 11_000.0);
        assert!((objects[1]["cpu_ratio"].as_f64().unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(objects[2]["verified"], false);
        assert!(objects[2]["median_ns"].is_null());
        assert!(objects[2]["ratios"]["noisy"].is_null());
    }

    #[test]
    fn text_is_aligned_and_warns() {
        let out = text(&result());
        let lines: Vec<&str> = out.lines().collect();
        let column = |line: &str, text: &str| line[..line.find(text).unwrap()].chars().count();
        // The ratio column starts at the same place on every row.
        assert_eq!(column(lines[3], "1.10× raw"), column(lines[1], "vs"));
        assert_eq!(column(lines[4], "– raw"), column(lines[1], "vs"));
        assert!(out.contains("drift (reference rows measured again at the end): raw +1.5%"));
        assert!(out.contains("warning: the rounds of noisy disagree by 25%"));
        assert!(out.contains("FAILED: broken: the reply differs"));
        assert!(
            markdown(&result())
                .contains("| noisy | 11.00 µs | 1.10× raw | 25% | 11.00 µs (1.10×) |")
        );
    }
}
