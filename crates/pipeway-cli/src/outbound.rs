//! `pipeway serve --outbound`: the server's stdin, line by line, to every
//! connected client, as `nc -lU` sends its stdin to its one client.
//!
//! Stdin is read only while a client is connected, and a line read just as
//! the last client left waits for the next one, so no input is lost for
//! want of a reader. Each line goes to every client connected when it is
//! sent; a slow client holds the next line back rather than miss it. At the
//! end of stdin every client is sent what it was given, then end-of-file.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncBufReadExt;
use tokio::sync::{Notify, mpsc, watch};

/// One line of input, shared by every client's queue.
pub(crate) type Line = Arc<[u8]>;

/// How many lines a client may have queued before it holds the input back.
const QUEUE: usize = 64;

/// The clients' queues and the state of the input.
#[derive(Clone)]
pub(crate) struct Outbound {
    shared: Arc<Shared>,
    ended: watch::Receiver<bool>,
}

struct Shared {
    clients: Mutex<Clients>,
    joined: Notify,
}

#[derive(Default)]
struct Clients {
    queues: Vec<mpsc::Sender<Line>>,
    /// The input has ended: a client joining now gets end-of-file at once.
    ended: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The queues of the clients still there.
    fn clients(&self) -> Vec<mpsc::Sender<Line>> {
        let mut clients = self.lock();
        clients.queues.retain(|client| !client.is_closed());
        clients.queues.clone()
    }

    async fn wait_for_a_client(&self) {
        while self.clients().is_empty() {
            self.joined.notified().await;
        }
    }
}

impl Outbound {
    /// Starts relaying stdin (once a client joins).
    pub(crate) fn start() -> Self {
        let shared = Arc::new(Shared {
            clients: Mutex::new(Clients::default()),
            joined: Notify::new(),
        });
        let (end, ended) = watch::channel(false);
        tokio::spawn(relay_stdin(shared.clone(), end));
        Self { shared, ended }
    }

    /// A new client's queue: every line from now on, and its end when the
    /// input ends.
    pub(crate) fn join(&self) -> mpsc::Receiver<Line> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let mut clients = self.shared.lock();
        if !clients.ended {
            clients.queues.push(sender);
            self.shared.joined.notify_one();
        }
        receiver
    }

    /// Resolves once stdin has ended and every line is in the clients'
    /// queues (which then end).
    pub(crate) async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|ended| *ended).await;
    }
}

async fn relay_stdin(shared: Arc<Shared>, end: watch::Sender<bool>) {
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    loop {
        shared.wait_for_a_client().await;
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                eprintln!("cannot read stdin: {err}; ending as at its end");
                break;
            }
        }
        let line: Line = line.into();
        // Until some client takes it (all may have left during the read).
        loop {
            shared.wait_for_a_client().await;
            let mut delivered = false;
            for client in shared.clients() {
                delivered |= client.send(line.clone()).await.is_ok();
            }
            if delivered {
                break;
            }
        }
    }
    // Dropping every queue ends it: each client is sent the rest, then
    // end-of-file.
    let mut clients = shared.lock();
    clients.ended = true;
    clients.queues.clear();
    drop(clients);
    let _ = end.send(true);
}
