//! `cargo bench -p pipeway-bench --bench smb` (as root, with Samba and
//! impacket): a 64-byte round trip to one pipeway echo server, reached
//! locally and from another host through Samba, in one run.
//!
//! The server runs in a process of its own; it, the local clients, impacket
//! and smbd are all pinned to CPU 0. Rounds are interleaved (one batch of
//! each case per round) and each figure is the median round. impacket
//! spends milliseconds of its own CPU on each call (SMB signing in
//! Python), so its CPU time is measured too and taken off: what is left
//! is what the SMB path itself costs (TCP over the veth pair, smbd, the
//! hand-off socket), next to what the local path costs a Python client.

#[cfg(target_os = "linux")]
fn main() {
    smb::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the SMB benchmark runs on Linux only");
}

#[cfg(target_os = "linux")]
mod smb {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    use pipeway::smb::SmbOptions;
    use pipeway::unix::{ListenOptionsExt, ListenerExt};
    use pipeway::{ListenOptions, PipeListener, PipeStream};
    use pipeway_bench::{Table, pin_to_cpu};
    use pipeway_testbed::SambaHost;

    const SERVER_ENV: &str = "PIPEWAY_BENCH_SMB_SERVER";
    const SIZE: usize = 64;

    pub fn main() {
        if let Ok(spec) = std::env::var(SERVER_ENV) {
            serve(&spec);
            return;
        }
        let quick = std::env::args().any(|a| a == "--quick");
        pin_to_cpu(0);
        let host =
            SambaHost::start().expect("the Samba host starts (run as root, with Samba installed)");
        for pid in host.namespace().map(|ns| ns.pids()).unwrap_or_default() {
            let _ = Command::new("taskset")
                .args(["-a", "-cp", "0", &pid.to_string()])
                .output();
        }
        let pipe = format!("pwbench{}", std::process::id());
        let server = Server::start(&pipe, host.np_dir(), &host.user().name);
        let rounds = if quick { 3 } else { 7 };
        let (local_ops, smb_ops) = if quick { (500, 30) } else { (3000, 200) };

        let mut rust_local = Vec::new();
        let mut python_local = Vec::new();
        let mut transact = Vec::new();
        let mut write_read = Vec::new();
        let mut client = PipeStream::connect(pipe.as_str()).expect("connects");
        for round in 0..rounds {
            eprintln!("round {} of {rounds}", round + 1);
            rust_local.push(rust_round_trips(&mut client, local_ops));
            python_local.push(python(
                &["local", &server.local_path.display().to_string()],
                local_ops,
            ));
            for (mode, into) in [("transact", &mut transact), ("writeread", &mut write_read)] {
                let user = host.user();
                into.push(python(
                    &[
                        mode,
                        &host.address().to_string(),
                        &host.port().to_string(),
                        &user.name,
                        &user.password,
                        &pipe,
                    ],
                    smb_ops,
                ));
            }
        }
        drop(client);

        let wall = |samples: &[(Duration, Duration)]| median(samples.iter().map(|s| s.0).collect());
        let cpu = |samples: &[(Duration, Duration)]| median(samples.iter().map(|s| s.1).collect());
        let rest = |samples: &[(Duration, Duration)]| {
            median(samples.iter().map(|s| s.0.saturating_sub(s.1)).collect())
        };
        let mut table = Table::latency(format!("{SIZE} B round trip to one pipeway echo server"));
        table.add("pipeway client (Rust), local", median(rust_local));
        table.add("Python socket client, local", wall(&python_local));
        table.add("impacket through Samba, transact", wall(&transact));
        table.add("impacket through Samba, write + read", wall(&write_read));
        table.print();

        let mut costs = Table::latency("The same, less the client's own CPU time per round trip");
        costs.add("Python socket client, local", rest(&python_local));
        costs.add("impacket through Samba, transact", rest(&transact));
        costs.add("impacket through Samba, write + read", rest(&write_read));
        costs.print();
        println!(
            "client CPU per round trip: Python local {:?}, impacket transact {:?}, impacket write + read {:?}",
            cpu(&python_local),
            cpu(&transact),
            cpu(&write_read)
        );
        drop(server);
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    fn rust_round_trips(client: &mut PipeStream, ops: usize) -> Duration {
        let payload = [7u8; SIZE];
        let mut back = [0u8; SIZE];
        for _ in 0..ops / 10 {
            client.write_all(&payload).unwrap();
            client.read_exact(&mut back).unwrap();
        }
        let started = Instant::now();
        for _ in 0..ops {
            client.write_all(&payload).unwrap();
            client.read_exact(&mut back).unwrap();
        }
        started.elapsed() / ops as u32
    }

    /// One batch in `smb_client.py`: (wall, client CPU) per round trip.
    fn python(args: &[&str], ops: usize) -> (Duration, Duration) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/smb_client.py");
        let (mode, rest) = args.split_first().unwrap();
        let out = Command::new("taskset")
            .args(["-c", "0", "python3"])
            .arg(&script)
            .arg(mode)
            .args(rest)
            .args([SIZE.to_string(), ops.to_string()])
            .output()
            .expect("taskset and python3 run");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().unwrap());
        let micros = |v: f64| Duration::from_nanos((v * 1000.0) as u64);
        (
            micros(fields.next().unwrap()),
            micros(fields.next().unwrap()),
        )
    }

    /// The echo server, in a process of its own (this benchmark re-run).
    struct Server {
        child: Child,
        local_path: PathBuf,
    }

    impl Server {
        fn start(pipe: &str, np_dir: &Path, user: &str) -> Server {
            let child = Command::new(std::env::current_exe().unwrap())
                .env(SERVER_ENV, format!("{pipe}\t{}\t{user}", np_dir.display()))
                .spawn()
                .unwrap();
            let smb_socket = np_dir.join(pipe);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !smb_socket.exists() {
                assert!(Instant::now() < deadline, "the server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            let local_path = std::env::temp_dir().join(format!("CoreFxPipe_{pipe}"));
            Server { child, local_path }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_file(&self.local_path);
        }
    }

    fn serve(spec: &str) {
        pin_to_cpu(0);
        let mut parts = spec.split('\t');
        let (pipe, dir, user) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let options = ListenOptions::new()
            .allow_user(user)
            .serve_smb(SmbOptions::new().socket_dir(dir));
        let listener = PipeListener::bind_with(pipe, &options).unwrap();
        assert!(listener.smb_socket_path().is_some());
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    }
}
