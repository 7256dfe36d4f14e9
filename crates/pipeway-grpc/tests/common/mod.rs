//! What the integration tests share: unique pipe names, the test service,
//! and servers that run on their own thread and runtime, as a separate
//! server process would.
#![allow(dead_code, unused_imports)]

pub mod service;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use pipeway::ListenOptions;
use pipeway_grpc::{DEFAULT_HANDSHAKE_TIMEOUT, PipeIncoming};
use tokio::sync::oneshot;
use tonic::transport::server::Router;

pub use service::TestService;
pub use service::pipetest;
pub use service::pipetest::pipetest_client::PipetestClient;

/// A pipe name no other test (or test run) uses.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pwg-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a local pipe name lives, as pipeway maps it: its socket path on
/// Unix, its `\\.\pipe\` path on Windows.
pub fn socket_path(name: &str) -> PathBuf {
    pipeway::PipeName::local(name)
        .unwrap()
        .endpoint()
        .unwrap()
        .to_owned()
}

/// How a [`Server`] stops.
enum Stop {
    /// Stop accepting, let calls in flight finish, close connections.
    Graceful,
    /// Drop everything at once, as a crashed process does.
    Abrupt,
}

/// A tonic server on a pipe, on its own thread with its own runtime. The pipe
/// is bound when `start` returns.
pub struct Server {
    stop: Option<oneshot::Sender<Stop>>,
    thread: Option<JoinHandle<()>>,
    pub path: PathBuf,
}

impl Server {
    /// Serves the test service on `name` with the default options.
    pub fn start(name: &str, service: TestService) -> Server {
        Self::start_with(name, &ListenOptions::new(), move |builder| {
            builder.add_service(service.server())
        })
    }

    /// Serves what `routes` adds, on `name` with `options`.
    pub fn start_with(
        name: &str,
        options: &ListenOptions,
        routes: impl FnOnce(&mut tonic::transport::Server) -> Router + Send + 'static,
    ) -> Server {
        Self::start_full(name, options, DEFAULT_HANDSHAKE_TIMEOUT, routes)
    }

    /// Serves what `routes` adds, on `name` with `options`, hanging up on
    /// clients silent for `handshake`.
    pub fn start_full(
        name: &str,
        options: &ListenOptions,
        handshake: Duration,
        routes: impl FnOnce(&mut tonic::transport::Server) -> Router + Send + 'static,
    ) -> Server {
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<Stop>();
        let name = name.to_owned();
        let options = options.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let incoming = match PipeIncoming::bind_with(&name, &options) {
                    Ok(incoming) => incoming.handshake_timeout(Some(handshake)),
                    Err(err) => {
                        bound_tx.send(Err(err)).unwrap();
                        return;
                    }
                };
                bound_tx.send(Ok(incoming.endpoint().to_owned())).unwrap();
                let (graceful_tx, graceful_rx) = oneshot::channel::<()>();
                let mut builder = tonic::transport::Server::builder();
                let serving = routes(&mut builder).serve_with_incoming_shutdown(incoming, async {
                    let _ = graceful_rx.await;
                });
                tokio::pin!(serving);
                tokio::select! {
                    served = &mut serving => served.unwrap(),
                    stop = stop_rx => match stop {
                        Ok(Stop::Graceful) => {
                            let _ = graceful_tx.send(());
                            serving.await.unwrap();
                        }
                        // Abrupt, or the Server was dropped: return, and the
                        // runtime's drop closes every connection.
                        Ok(Stop::Abrupt) | Err(_) => {}
                    },
                }
            });
        });
        let path = bound_rx.recv().unwrap().expect("the test server binds");
        Server {
            stop: Some(stop_tx),
            thread: Some(thread),
            path,
        }
    }

    /// Stops gracefully and waits until the server's thread has ended.
    pub async fn stop(mut self) {
        self.finish(Stop::Graceful).await
    }

    /// Stops as a crash would: every connection dropped at once.
    pub async fn kill(mut self) {
        self.finish(Stop::Abrupt).await
    }

    /// Stops as a crash would and waits for it on this thread, without
    /// yielding to the caller's runtime: the caller's connections have not
    /// been polled since theirs closed.
    pub fn kill_blocking(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Stop::Abrupt);
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the server thread panicked");
        }
    }

    async fn finish(&mut self, how: Stop) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(how);
        }
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap()
                .expect("the server thread panicked");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Stop::Abrupt);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether this process runs as root; tests that act as another user need
/// it, and in CI its absence is a failure rather than a skip.
#[cfg(unix)]
pub fn require_root() -> bool {
    pipeway_testbed::needs::root("it acts as another user")
}
