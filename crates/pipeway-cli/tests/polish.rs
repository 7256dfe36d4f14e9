//! What the command says, as a user reads it: one-line errors without
//! Debug escapes or nanoseconds, plurals, `--timeout` in seconds, what
//! `serve` does with stdin, `--prefix`, the listing's type column, and a
//! demo whose narration no log line interrupts.
//!
//! (Unix for now: not yet run under Wine.)
#![cfg(unix)]

mod common;

use common::{Client, PIPEWAY, Server, pipeway, text, unique};

/// The text between `; waited ` and the closing parenthesis.
fn waited(err: &str) -> &str {
    let start = err.find("; waited ").expect("says how long it waited") + "; waited ".len();
    let end = err[start..].find(')').expect("a closing parenthesis") + start;
    &err[start..end]
}

#[test]
fn connect_errors_show_rounded_durations_and_names_as_written() {
    let out = pipeway(&["connect", &unique("missing"), "--timeout", "300ms"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let waited = waited(&err);
    assert!(
        waited.ends_with(" ms") && waited.trim_end_matches(" ms").parse::<u32>().is_ok(),
        "a whole number of milliseconds, not {waited:?}: {err}"
    );

    let out = pipeway(&["connect", r"\\.\notpipe\x"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(r"'\\.\notpipe\x'"), "as typed: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // `info` does not wait, and does not say it waited.
    let out = pipeway(&["info", &unique("missing")], b"");
    let err = text(&out.stderr);
    assert!(
        err.contains("not found") && !err.contains("waited"),
        "{err}"
    );
}

#[test]
fn a_bare_number_timeout_is_seconds() {
    let out = pipeway(&["connect", &unique("missing"), "--timeout", "0.2"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("not found"), "{err}");
    let waited = waited(&err);
    let ms: u32 = waited.trim_end_matches(" ms").parse().unwrap();
    assert!((200..2000).contains(&ms), "0.2 s, not 0.2 ms: {err}");
}

#[test]
fn usage_errors_print_one_line() {
    for args in [
        &["connect"][..],
        &["frobnicate"],
        &["connect", "x", "--timeout", "soon"],
        &["serve", "x", "--inbound", "--outbound"],
    ] {
        let out = pipeway(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("pipeway: "), "{args:?}: {err}");
        assert!(err.contains("--help"), "says where to look: {err}");
    }
    // Help itself is not an error.
    let out = pipeway(&["serve", "--help"], b"");
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("nc -lU"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn serve_says_what_it_does_with_stdin_and_counts_clients_in_words() {
    let name = unique("banner");
    let mut server = Server::start(&[&name, "--max-instances", "1"]);
    let banner = server.wait_for("serving ");
    assert!(
        banner.contains("at most 1 client;") || banner.contains("at most 1 client)"),
        "{banner}"
    );
    assert!(banner.contains("stdin is not read"), "{banner}");

    let outbound = unique("banner-out");
    let mut server = Server::start(&[&outbound, "--outbound"]);
    let banner = server.wait_for("serving ");
    assert!(banner.contains("stdin goes to every client"), "{banner}");
}

#[test]
fn prefix_labels_each_line_with_its_client() {
    let name = unique("prefix");
    let mut server = Server::start(&[&name, "--prefix"]);
    let mut first = Client::start(&[&name]);
    server.wait_for("client 1 connected");
    let mut second = Client::start(&[&name]);
    server.wait_for("client 2 connected");
    // Lines cut across writes still print whole, each after its client.
    first.send_stdin(b"hel");
    second.send_stdin(b"from two\n");
    first.send_stdin(b"lo\nand a last word");
    first.close_stdin();
    second.close_stdin();
    assert!(first.finish().0.success());
    assert!(second.finish().0.success());
    server.wait_for("client 1 disconnected");
    server.wait_for("client 2 disconnected");
    let printed = text(&server.stop().stdout);
    let mut lines: Vec<&str> = printed.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["1: and a last word", "1: hello", "2: from two"],
        "{printed}"
    );

    let messages = unique("prefix-msg");
    let mut server = Server::start(&[&messages, "--message", "--prefix"]);
    let out = pipeway(&["connect", &messages, "--message"], b"one\n\nthree\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    server.wait_for("client 1 disconnected");
    assert_eq!(text(&server.stop().stdout), "1: one\n1: \n1: three\n");
}

#[test]
fn the_listing_shows_a_framed_pipe_as_framed() {
    let name = unique("listframed");
    let _server = Server::start(&[&name, "--message"]);
    let out = pipeway(&["list"], b"");
    let listing = text(&out.stdout);
    let row = listing
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{listing}"));
    let header = listing.lines().next().unwrap();
    assert_eq!(common::column(header, row, "TYPE"), "framed", "{row}");
}

#[test]
fn the_demo_narrates_without_log_lines_and_prints_its_table_for_machines_too() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(PIPEWAY)
            .arg("demo")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };
    let out = run(&[]);
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(
        !all.contains(" WARN "),
        "a log line in the narration: {all}"
    );
    // The latency table is aligned text by default...
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("|---"),
        "not Markdown by default: {stdout}"
    );
    // ...Markdown or JSON when asked.
    let markdown = text(&run(&["--markdown"]).stdout);
    assert!(markdown.contains("|---"), "{markdown}");
    let json = text(&run(&["--json"]).stdout);
    let cases: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(!cases.is_empty());
    assert!(cases.iter().all(|case| case["case"].is_string()), "{json}");
}
