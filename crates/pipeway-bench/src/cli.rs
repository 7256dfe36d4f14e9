//! The command line both `pipeway bench` and `pipeway-bench` take, and the
//! run it asks for.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;

use crate::registry::Registry;
use crate::runner::{Context, Settings, TableResult, run_table};

/// `pipeway bench [GROUP...] [--quick] [--json | --markdown] [--table WORD]`.
#[derive(Args, Clone, Debug, Default)]
pub struct BenchArgs {
    /// Groups to run (all when none): see --list.
    #[arg(value_name = "GROUP")]
    pub groups: Vec<String>,
    /// A smoke run: 3 rounds of short batches; checks every case, noisy figures.
    #[arg(long)]
    pub quick: bool,
    /// One JSON object per case on stdout (progress on stderr).
    #[arg(long)]
    pub json: bool,
    /// Markdown tables, as the README quotes them (on stderr with --json,
    /// so that one run gives both).
    #[arg(long)]
    pub markdown: bool,
    /// Only tables whose title contains this (case-insensitive; repeatable).
    #[arg(long, value_name = "WORD")]
    pub table: Vec<String>,
    /// Only rows whose name contains this (case-insensitive; repeatable;
    /// `=NAME` for exactly that name): for profiling one row. Comparisons
    /// with rows left out are left out too.
    #[arg(long = "case", value_name = "WORD")]
    pub cases: Vec<String>,
    /// Lists the groups and their tables, and exits.
    #[arg(long)]
    pub list: bool,
    /// Rounds per table (default: 21, or 3 with --quick).
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
}

impl BenchArgs {
    fn settings(&self) -> Settings {
        let mut settings = if self.quick {
            Settings::quick()
        } else {
            Settings::full()
        };
        if let Some(rounds) = self.rounds {
            settings.rounds = rounds.max(1);
        }
        settings
    }

    fn wants_table(&self, title: &str) -> bool {
        matches_any(&self.table, title)
    }
}

/// Whether `text` contains one of `words` (ignoring case), or there are none.
fn matches_any(words: &[String], text: &str) -> bool {
    let text = text.to_lowercase();
    words.is_empty()
        || words.iter().any(|word| match word.strip_prefix('=') {
            Some(exact) => text == exact.to_lowercase(),
            None => text.contains(&word.to_lowercase()),
        })
}

/// The machine's load averages, as `uptime` gives them.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|line| {
            let parts: Vec<&str> = line.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(", "))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Runs what `args` asks for from `registry`, printing each table as it
/// completes; `cli` is the `pipeway` command, for the cases that run it.
/// Returns whether every row ran and every echo checked out.
pub fn run(args: &BenchArgs, registry: &Registry, cli: Option<PathBuf>) -> io::Result<bool> {
    for name in &args.groups {
        if registry.group(name).is_none() {
            let known: Vec<&str> = registry.groups().iter().map(|g| g.name()).collect();
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no benchmark group {name:?}; groups: {}", known.join(", ")),
            ));
        }
    }
    let groups: Vec<_> = registry
        .groups()
        .iter()
        .filter(|g| {
            if args.groups.is_empty() {
                !g.only_when_named
            } else {
                args.groups.iter().any(|n| n == g.name())
            }
        })
        .collect();
    let mut out = io::stdout().lock();
    if args.list {
        for group in groups {
            writeln!(out, "{:<10} {}", group.name(), group.about())?;
            for table in (group.tables)() {
                writeln!(out, "{:<10}   {}", "", table.title())?;
            }
        }
        return Ok(true);
    }

    let settings = args.settings();
    crate::pin_to_cpu(settings.cpu);
    let cx = Context::new(settings.clone(), cli)?;
    let preamble = format!(
        "Peers in separate processes, every process pinned to CPU {}; each table's rows measured in {} interleaved rounds after a warm-up, \
         figures are medians of the rounds, ratios against a row of the same table; load average at the start: {}.",
        settings.cpu,
        settings.rounds,
        load()
    );
    if args.json {
        eprintln!("{preamble}");
    } else {
        writeln!(out, "{preamble}\n")?;
    }

    let mut all_ok = true;
    for group in groups {
        for table in (group.tables)() {
            if !args.wants_table(table.title()) {
                continue;
            }
            if args.json {
                eprintln!("measuring {}", table.title());
            }
            let mut table = table;
            table.retain_rows(|row| matches_any(&args.cases, row));
            if table.rows.is_empty() {
                continue;
            }
            let result: TableResult = run_table(group.name(), &table, &cx);
            all_ok &= !result.failed();
            if args.json {
                for object in crate::report::json(&result) {
                    writeln!(out, "{object}")?;
                }
                if args.markdown {
                    eprintln!("{}", crate::report::markdown(&result));
                }
            } else if args.markdown {
                writeln!(out, "{}", crate::report::markdown(&result))?;
            } else {
                writeln!(out, "{}", crate::report::text(&result))?;
            }
            out.flush()?;
        }
    }
    if !args.json {
        writeln!(out, "load average at the end: {}", load())?;
    }
    Ok(all_ok)
}

/// The command line of `pipeway-bench` and `cargo bench -p pipeway-bench`.
#[derive(clap::Parser)]
#[command(
    name = "pipeway-bench",
    about = "pipeway's benchmark, process to process"
)]
struct Standalone {
    #[command(flatten)]
    args: BenchArgs,
    /// Ignored: `cargo bench` passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

/// `main` of a program that is only the benchmark (`pipeway-bench`, the
/// `cargo bench` target): serves as a peer when asked, else parses the
/// command line and runs the standard groups. The `cli` group finds the
/// `pipeway` command through `PIPEWAY_BIN` or next to the program.
pub fn standalone_main() -> std::process::ExitCode {
    use clap::Parser;
    let registry = Registry::standard();
    crate::serve_peer_if_asked(&registry);
    let command = Standalone::parse();
    #[cfg(unix)]
    let pipeway = crate::find_cli();
    #[cfg(not(unix))]
    let pipeway = None;
    match run(&command.args, &registry, pipeway) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("pipeway-bench: some cases failed (see above)");
            std::process::ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("pipeway-bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
