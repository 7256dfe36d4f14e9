//! The harness run as users run it (`pipeway-bench --quick --json`): the
//! shape of its JSON, the fair pairing of rows with baselines, and that a
//! wrong echo fails its row. No timing is asserted: figures are whatever
//! this machine gives.
//!
//! (Unix: the harness's groups and baselines are Unix programs.)
#![cfg(unix)]

use std::collections::HashMap;
use std::process::{Command, Output};

use serde_json::Value;

fn bench(args: &[&str], fault: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipeway-bench"));
    command.args(args);
    match fault {
        Some(fault) => command.env("PIPEWAY_BENCH_FAULT", fault),
        None => command.env_remove("PIPEWAY_BENCH_FAULT"),
    };
    command.output().expect("pipeway-bench runs")
}

fn cases(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn figure(case: &Value) -> f64 {
    ["median_ns", "bytes_per_s", "per_s"]
        .iter()
        .find_map(|key| case[key].as_f64())
        .unwrap_or_else(|| panic!("no figure in {case}"))
}

#[test]
fn a_quick_run_gives_one_verified_object_per_case_with_ratios_to_baselines_of_the_same_table() {
    let mut groups = vec!["pipes", "message"];
    if cfg!(feature = "channel") {
        groups.push("channel");
    }
    if cfg!(feature = "grpc") {
        groups.push("grpc");
    }
    let mut args = vec!["--quick", "--json", "--rounds", "1"];
    args.extend(&groups);
    let output = bench(&args, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let cases = cases(&output);

    let mut tables: HashMap<(String, String), Vec<&Value>> = HashMap::new();
    for case in &cases {
        for key in ["group", "table", "case"] {
            assert!(case[key].is_string(), "{key} in {case}");
        }
        assert!(case["size"].is_u64(), "size in {case}");
        assert_eq!(case["verified"], true, "{case}");
        assert_eq!(case["rounds"], 1, "{case}");
        assert!(case["spread"].is_f64(), "{case}");
        assert!(figure(case) > 0.0, "{case}");
        if cfg!(target_os = "linux") {
            assert!(case["cpu_ns"].as_f64().is_some_and(|ns| ns > 0.0), "{case}");
        }
        let key = (
            case["group"].as_str().unwrap().to_owned(),
            case["table"].as_str().unwrap().to_owned(),
        );
        tables.entry(key).or_default().push(case);
    }
    for group in &groups {
        assert!(
            tables.keys().any(|(g, _)| g == group),
            "no table of group {group} in {cases:?}"
        );
    }

    for ((_, table), rows) in &tables {
        let by_name: HashMap<&str, &Value> = rows
            .iter()
            .map(|c| (c["case"].as_str().unwrap(), *c))
            .collect();
        for case in rows {
            let name = case["case"].as_str().unwrap();
            match case["baseline"].as_str() {
                None => {
                    assert!(case["ratio"].is_null(), "{case}");
                    assert!(
                        case["drift"].is_f64(),
                        "a baseline is measured again: {case}"
                    );
                }
                Some(baseline) => {
                    let base = by_name.get(baseline).unwrap_or_else(|| {
                        panic!("{name}'s baseline {baseline} is not in {table}")
                    });
                    // The ratio is the figures' quotient: above 1 is slower
                    // for times (`median_ns`), faster for rates.
                    let expected = figure(case) / figure(base);
                    let ratio = case["ratio"].as_f64().expect("a ratio");
                    assert!(
                        (ratio - expected).abs() < 1e-6 * expected,
                        "{case} vs {base}"
                    );
                    assert_eq!(case["baseline_drift"], base["drift"]);
                    // Fair pairs: a tokio row is compared with a raw tokio
                    // row first, a pipeway message row with raw seqpacket.
                    let ours = name.starts_with("pipeway") || name.starts_with("channel");
                    if ours && name.contains("(tokio)") {
                        assert!(baseline.contains("tokio"), "{name} vs {baseline}");
                    }
                    if name.starts_with("pipeway MessageStream")
                        && case["size"].as_u64() < Some(1 << 20)
                    {
                        assert!(baseline.contains("SOCK_SEQPACKET"), "{name} vs {baseline}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_wrong_echo_fails_its_row_and_the_run() {
    let output = bench(
        &[
            "--quick",
            "--json",
            "--rounds",
            "1",
            "pipes",
            "--table",
            "byte round trip, 64 B",
        ],
        Some("corrupt-echo"),
    );
    assert!(
        !output.status.success(),
        "a corrupted echo must fail the run"
    );
    let cases = cases(&output);
    let raw = cases
        .iter()
        .find(|c| c["case"] == "raw std UnixStream")
        .expect("the raw row");
    assert_eq!(raw["verified"], false);
    assert!(raw["median_ns"].is_null());
    assert!(
        raw["error"]
            .as_str()
            .unwrap()
            .contains("differs from the message at byte 32"),
        "{raw}"
    );
    // The pipeway rows' servers do not corrupt: they still verify.
    let pipeway = cases
        .iter()
        .find(|c| c["case"] == "pipeway PipeStream (blocking)")
        .expect("the pipeway row");
    assert_eq!(pipeway["verified"], true);
    assert!(pipeway["ratio"].is_null(), "no ratio to a failed baseline");
}

#[test]
fn an_unknown_group_is_refused_by_name() {
    let output = bench(&["--quick", "nosuchgroup"], None);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no benchmark group \"nosuchgroup\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("pipes"),
        "the known groups are listed: {stderr}"
    );
}

#[test]
fn the_smb_serve_group_runs_only_when_named() {
    if !cfg!(all(target_os = "linux", feature = "smb-serve")) {
        return;
    }
    let every = bench(&["--list"], None);
    assert!(every.status.success());
    let listed = String::from_utf8_lossy(&every.stdout);
    assert!(
        !listed.lines().any(|l| l.starts_with("smb-serve ")),
        "{listed}"
    );
    let named = bench(&["smb-serve", "--list"], None);
    let listed = String::from_utf8_lossy(&named.stdout);
    assert!(
        listed.lines().any(|l| l.starts_with("smb-serve ")) && listed.contains("through Samba"),
        "{listed}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn the_shm_group_runs_and_verifies_every_reply_of_the_channel() {
    let table = "Shared memory round trip, 4 KiB, sleeping, one CPU";
    let output = bench(
        &[
            "--quick", "--json", "--rounds", "1", "shm", "--table", table,
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found = cases(&output);
    for row in ["pipeway shm", "pipeway shm, in place"] {
        let shm = found
            .iter()
            .find(|c| c["case"] == row)
            .expect("the shm row");
        assert_eq!(shm["verified"], true, "{shm}");
        assert_eq!(shm["baseline"], "raw socket", "{shm}");
        assert!(figure(shm) > 0.0);
    }

    // A channel server that corrupts its echoes fails its row.
    let output = bench(
        &[
            "--quick", "--json", "--rounds", "1", "shm", "--table", table,
        ],
        Some("corrupt-echo"),
    );
    assert!(
        !output.status.success(),
        "a corrupted echo must fail the run"
    );
    let found = cases(&output);
    // Both servers flip a byte in the middle, which only the full
    // comparison of each batch's last reply sees.
    for row in ["pipeway shm", "pipeway shm, in place"] {
        let shm = found
            .iter()
            .find(|c| c["case"] == row)
            .expect("the shm row");
        assert_eq!(shm["verified"], false, "{shm}");
        assert!(shm["error"].as_str().unwrap().contains("differs"), "{shm}");
    }
}

#[test]
fn json_with_markdown_gives_both_from_one_run_the_tables_on_stderr() {
    let output = bench(
        &[
            "--quick",
            "--json",
            "--markdown",
            "--rounds",
            "1",
            "pipes",
            "--table",
            "byte round trip, 64 B",
            "--case",
            "=raw std UnixStream",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let cases = cases(&output);
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0]["case"], "raw std UnixStream");
    assert!(
        stderr.contains("| raw std UnixStream |"),
        "a markdown row on stderr: {stderr}"
    );
}
