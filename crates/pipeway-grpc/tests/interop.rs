//! Interop with a gRPC implementation not written here: Python's grpcio,
//! as a client of a pipeway-grpc server and as the server of a pipeway-grpc
//! client, both at `unix:` + the pipe's socket path, both serving or calling
//! `buy.proto` (the ASP.NET Core gRPC-over-named-pipes example service) from stubs generated now by grpcio-tools.
//!
//! `scripts/test.sh` installs grpcio and grpcio-tools. Without them (or
//! without `python3`) these tests fail when `CI` is set, and are skipped
//! with a message otherwise.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, socket_path, unique};
use pipeway::ListenOptions;
use pipeway_grpc::buy::my_service_client::MyServiceClient;
use pipeway_grpc::buy::my_service_server::{MyService, MyServiceServer};
use pipeway_grpc::buy::{BuyRequest, BuyResponse};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::{Code, Request, Response, Status};

const PYTHON: &str = "python3";

/// Whether python3 with grpcio and grpcio-tools is here. In CI their
/// absence fails the test instead of skipping it.
fn have_grpcio() -> bool {
    let found = std::process::Command::new(PYTHON)
        .args(["-c", "import grpc, grpc_tools.protoc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        pipeway_testbed::needs::missing(&format!(
            "{PYTHON} with grpcio and grpcio-tools is not installed"
        ));
    }
    found
}

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Python stubs for buy.proto, generated with grpcio-tools into a fresh
/// directory, next to copies of the test's Python programs.
fn python_stubs(tag: &str) -> TempDir {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = TempDir(std::env::temp_dir().join(unique(&format!("py-{tag}"))));
    std::fs::create_dir(&dir.0).unwrap();
    let generated = std::process::Command::new(PYTHON)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(crate_dir.join("proto"))
        .arg(format!("--python_out={}", dir.0.display()))
        .arg(format!("--grpc_python_out={}", dir.0.display()))
        .arg("buy.proto")
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "grpc_tools.protoc failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    for script in ["buy_client.py", "buy_server.py"] {
        std::fs::copy(
            crate_dir.join("tests/interop").join(script),
            dir.0.join(script),
        )
        .unwrap();
    }
    dir
}

fn python(dir: &TempDir, script: &str) -> Command {
    let mut command = Command::new(PYTHON);
    command
        .arg(dir.0.join(script))
        .env("PYTHONPATH", &dir.0)
        .kill_on_drop(true);
    command
}

/// Kills and reaps a child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
        if let Some(pid) = self.0.id() {
            // SAFETY: reaps our own child (already killed); a null status
            // pointer is allowed.
            unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
        }
    }
}

/// The `buy.proto` shop, noting the pid of every caller.
#[derive(Clone, Default)]
struct RecordingShop {
    callers: Arc<Mutex<Vec<Option<u32>>>>,
}

#[tonic::async_trait]
impl MyService for RecordingShop {
    async fn buy(&self, request: Request<BuyRequest>) -> Result<Response<BuyResponse>, Status> {
        let peer = pipeway_grpc::peer_identity(&request).map(|peer| peer.pid());
        self.callers.lock().unwrap().push(peer.flatten());
        Ok(Response::new(pipeway_grpc::buy::answer(request.get_ref())))
    }
}

#[tokio::test]
async fn a_grpcio_client_without_options_calls_the_rust_server() {
    if !have_grpcio() {
        return;
    }
    let stubs = python_stubs("client");
    let name = unique("grpcio-client");
    let shop = RecordingShop::default();
    let server = Server::start_with(&name, &ListenOptions::new(), {
        let shop = shop.clone();
        move |builder| builder.add_service(MyServiceServer::new(shop))
    });

    let address = format!("unix:{}", server.path.display());
    // Three calls on one channel: the later ones refer to the :authority
    // the first added to HPACK's table, so they are rewritten too.
    let client = python(&stubs, "buy_client.py")
        .args([address.as_str(), "apple", "3", "120", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = client.id().unwrap();
    let output = client.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "the grpcio client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "bought 3 of apple at 120\n".repeat(3)
    );
    // The handler saw the Python process itself as its caller.
    assert_eq!(*shop.callers.lock().unwrap(), [Some(pid); 3]);
    server.stop().await;
}

/// Without the fix, h2 refuses grpcio's `:authority` (the socket path):
/// what the test above would meet.
#[tokio::test]
async fn without_the_authority_fix_h2_refuses_a_grpcio_client() {
    if !have_grpcio() {
        return;
    }
    let stubs = python_stubs("refused");
    let name = unique("grpcio-refused");
    let incoming = pipeway_grpc::PipeIncoming::bind(name.as_str())
        .unwrap()
        .normalize_authority(false);
    let address = format!("unix:{}", incoming.socket_path().display());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MyServiceServer::new(RecordingShop::default()))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    let output = python(&stubs, "buy_client.py")
        .args([address.as_str(), "apple", "3", "120"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success(), "the call went through");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("StatusCode.INTERNAL")
            || stderr.contains("PROTOCOL_ERROR")
            || stderr.contains("RST_STREAM"),
        "{stderr}"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Removes a socket file a killed grpcio server leaves behind.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn the_rust_client_calls_a_grpcio_server() {
    if !have_grpcio() {
        return;
    }
    let stubs = python_stubs("server");
    let name = unique("grpcio-server");
    let path = socket_path(&name);
    let _removed = Removed(path.clone());
    let mut server = Reaped(
        python(&stubs, "buy_server.py")
            .arg(format!("unix:{}", path.display()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("ready"),
        "the grpcio server did not start"
    );

    let mut shop = MyServiceClient::new(pipeway_grpc::connect(&name).await.unwrap());
    let reply = shop
        .buy(BuyRequest {
            id: "apple".into(),
            quantity: 3,
            price: 120,
        })
        .await
        .unwrap();
    let served_by = reply
        .metadata()
        .get("x-served-by")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(served_by.starts_with("grpcio "), "{served_by}");
    assert_eq!(reply.into_inner().result, "bought 3 of apple at 120");

    // Deadlines cross over too.
    let mut slow = Request::new(BuyRequest {
        id: "slow".into(),
        quantity: 1,
        price: 1,
    });
    slow.set_timeout(Duration::from_millis(200));
    let status = shop.buy(slow).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}
