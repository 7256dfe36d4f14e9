//! A Python client written from the README's wire format alone
//! (`tests/python/json_client.py`) exchanges JSON messages with a Rust server.
//! (Unix: the client opens the pipe's Unix socket.)
#![cfg(unix)]

mod common;

use std::path::Path;

use common::*;
use pipeway_channel::{Event, Server};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Say {
    text: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Heard {
    from: String,
    text: String,
}

/// Whether `python3` runs. In CI its absence fails the test instead.
fn have_python() -> bool {
    pipeway_testbed::needs::python(&[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_from_the_readme_exchanges_json_messages() {
    if !have_python() {
        return;
    }
    let name = unique("python");
    let (server, mut events) = Server::<Say, Heard>::bind(&name).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/json_client.py");
    let python = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&name)
        .kill_on_drop(true)
        .output();
    let python = tokio::spawn(python);

    let id = connected(&mut events).await;
    match next(&mut events).await {
        Event::Message { client, message } => {
            assert_eq!(client, id);
            assert_eq!(message.text, "hello from python");
            server
                .send(
                    id,
                    &Heard {
                        from: "rust".into(),
                        text: format!("you said {:?}", message.text),
                    },
                )
                .unwrap();
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    match next(&mut events).await {
        Event::Request {
            client,
            message,
            responder,
        } => {
            assert_eq!(client, id);
            assert_eq!(responder.request_id(), 1);
            responder
                .reply(&Heard {
                    from: "rust".into(),
                    text: message.text.to_uppercase(),
                })
                .unwrap();
        }
        other => panic!("unexpected {}", describe(&other)),
    }
    let output = within("python", python).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            serde_json::json!([0, 0, {"from": "rust", "text": "you said \"hello from python\""}]),
            serde_json::json!([2, 1, {"from": "rust", "text": "SHOUT THIS"}]),
        ]
    );
    let (gone, reason) = disconnected(&mut events).await;
    assert_eq!(gone, id);
    assert!(reason.is_clean(), "{reason}");
}

#[test]
fn the_python_client_is_the_readmes_example_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let example = &readme[start..end];
    let script = std::fs::read_to_string(root.join("tests/python/json_client.py")).unwrap();
    // The script is its docstring header, then the README's code.
    let code = &script[script.find("import json").unwrap()..];
    assert_eq!(code, example);
    // The repository's README carries the same wire format, client included.
    let top = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let wire = &top[top.find("## Wire format").expect("a Wire format section")..];
    assert!(
        wire.contains(example),
        "the top-level README's Python client differs"
    );
    // And it is short: a peer needs little more than a socket and struct
    // (the handshake is four of these lines).
    let logic = code
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .count();
    assert!(logic <= 36, "{logic} lines");
}
