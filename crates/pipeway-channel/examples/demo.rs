//! The narrated channel exchange that `pipeway demo` shows: a server and
//! two clients on one pipe, every server event, a broadcast, a request and
//! its reply, disconnections and a graceful shutdown.
//!
//! ```sh
//! cargo run -p pipeway-channel --example demo
//! ```

#[tokio::main(flavor = "current_thread")]
async fn main() -> pipeway_channel::Result<()> {
    const USAGE: &str = "usage: demo\n\nRuns the narrated channel exchange `pipeway demo` shows.";
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(_) => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
    let name = format!("pipeway-channel-demo-{}", std::process::id());
    pipeway_channel::demo::chat(name.as_str(), |line| println!("{line}")).await
}
