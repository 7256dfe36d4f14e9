//! Starts a test Samba host and keeps it until stdin ends, printing how to
//! reach it: for trying clients by hand.
//!
//! ```sh
//! cargo run -p pipeway-testbed --example samba_host
//! ```

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    use std::io::Read;

    let host = pipeway_testbed::SambaHost::start()?;
    let user = host.user();
    println!("address={}", host.address());
    println!("port={}", host.port());
    println!("user={}", user.name);
    println!("password={}", user.password);
    println!("np_dir={}", host.np_dir().display());
    println!("smb_conf={}", host.smb_conf().display());
    eprintln!("(the host runs until stdin ends)");
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the Samba test host runs on Linux only");
}
