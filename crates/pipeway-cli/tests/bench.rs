//! `pipeway bench`, run as a user runs it: the echo-server group (the
//! command serving, a C server and a C client) and the JSON it prints. No
//! timing is asserted.
//!
//! (Unix: the baselines are C programs built for Linux.)
#![cfg(unix)]

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_cli_measures_serve_echo_against_a_c_server_with_verified_echoes() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipeway"))
        .args(["bench", "cli", "--quick", "--json", "--rounds", "1"])
        .output()
        .expect("pipeway runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let cases: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let serve: Vec<&Value> = cases
        .iter()
        .filter(|c| c["case"] == "pipeway serve --echo")
        .collect();
    assert_eq!(serve.len(), 2, "64 B and 4 KiB: {cases:?}");
    for case in serve {
        assert_eq!(case["baseline"], "C echo server");
        assert_eq!(case["verified"], true);
        assert!(case["ratio"].as_f64().is_some_and(|r| r > 0.0), "{case}");
        assert!(
            case["median_ns"].as_f64().is_some_and(|ns| ns > 0.0),
            "{case}"
        );
    }
    assert!(
        cases.iter().all(|c| c["verified"] == true),
        "every echo checked out: {cases:?}"
    );
}

#[test]
fn bench_list_names_the_groups() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipeway"))
        .args(["bench", "--list"])
        .output()
        .expect("pipeway runs");
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    for group in ["pipes", "message", "cli", "channel"] {
        assert!(
            listing.lines().any(|line| line.starts_with(group)),
            "{group} in {listing}"
        );
    }
}
