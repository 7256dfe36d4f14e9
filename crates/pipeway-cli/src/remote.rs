//! The CLI's remote pipes: who to log on as (`--user` with the password
//! from `PIPEWAY_PASSWORD`, smbclient's `-U USER%PASSWORD`, or `--authfile`
//! in smbclient's format), and `pipeway info` for `\\HOST\pipe\NAME`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use pipeway::{ConnectOptions, Credentials, PipeName};
use pipeway_smb::client::{self as smb, ClientOptions, Pipe, ReadMode, Session};
use zeroize::Zeroizing;

use crate::Result;

/// How to log on to a remote pipe's host.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct RemoteArgs {
    /// The user on the remote host, as `USER` or `DOMAIN\USER`; the
    /// password comes from PIPEWAY_PASSWORD.
    #[arg(long, value_name = "[DOMAIN\\]USER", conflicts_with = "user_password")]
    user: Option<String>,
    /// smbclient's form: `[DOMAIN\]USER%PASSWORD` (visible to other local
    /// users in the process list: prefer PIPEWAY_PASSWORD or --authfile).
    #[arg(short = 'U', value_name = "USER%PASSWORD")]
    user_password: Option<String>,
    /// A file in smbclient's format: `username = `, `password = `, `domain = ` lines.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["user", "user_password"])]
    authfile: Option<PathBuf>,
    /// The host's SMB port.
    #[arg(long, value_name = "PORT", default_value_t = 445)]
    port: u16,
    /// Refuse a host that will not encrypt the session.
    #[arg(long)]
    require_encryption: bool,
}

impl RemoteArgs {
    /// The credentials these arguments give, if any.
    fn credentials(&self) -> Result<Option<Credentials>> {
        if let Some(file) = &self.authfile {
            return read_authfile(file).map(Some);
        }
        if let Some(both) = &self.user_password {
            let both = Zeroizing::new(both.clone());
            return Ok(Some(match both.split_once('%') {
                Some((user, password)) => Credentials::new(user, password),
                None => Credentials::new(&both, password_from_env(&both)?.as_str()),
            }));
        }
        if let Some(user) = &self.user {
            return Ok(Some(Credentials::new(
                user,
                password_from_env(user)?.as_str(),
            )));
        }
        Ok(None)
    }

    /// Adds the remote settings to `options`. Without any credentials here,
    /// pipeway takes PIPEWAY_USER and PIPEWAY_PASSWORD from the environment.
    pub(crate) fn apply(&self, mut options: ConnectOptions) -> Result<ConnectOptions> {
        if let Some(c) = self.credentials()? {
            options = options.credentials(c);
        }
        Ok(options
            .smb_port(self.port)
            .require_encryption(self.require_encryption))
    }
}

fn password_from_env(user: &str) -> Result<Zeroizing<String>> {
    std::env::var("PIPEWAY_PASSWORD").map(Zeroizing::new).map_err(|_| {
        format!(
            "no password for {user}: set PIPEWAY_PASSWORD, or give -U USER%PASSWORD or --authfile FILE"
        )
        .into()
    })
}

/// smbclient's authentication file: `username = `, `password = ` and
/// `domain = ` lines (the domain may also prefix the user name).
fn read_authfile(path: &Path) -> Result<Credentials> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    let (mut user, mut password, mut domain) = (None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().to_owned();
        match key.trim() {
            "username" => user = Some(value),
            "password" => password = Some(Zeroizing::new(value)),
            "domain" => domain = Some(value),
            _ => {}
        }
    }
    let user = user.ok_or_else(|| format!("{}: no `username =` line", path.display()))?;
    let password = password.ok_or_else(|| format!("{}: no `password =` line", path.display()))?;
    let user = match domain {
        Some(d) if !user.contains(['\\', '/', '@']) => format!(r"{d}\{user}"),
        _ => user,
    };
    Ok(Credentials::new(&user, password.as_str()))
}

/// `pipeway info`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct InfoArgs {
    /// The pipe (`echo`, `\\.\pipe\echo`, a socket path, or `\\HOST\pipe\NAME`).
    name: String,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// `pipeway info`: a local pipe's socket, or a remote pipe's host and session.
pub(crate) fn info(args: InfoArgs) -> Result<ExitCode> {
    let name = PipeName::parse(&args.name)?;
    let (Some(host), Some(pipe)) = (name.host(), name.pipe_name()) else {
        return crate::inspect::info(&args.name);
    };
    let credentials = match args.remote.credentials()? {
        Some(c) => c,
        None => Credentials::from_env().ok_or(
            "no credentials: give --user (with PIPEWAY_PASSWORD), -U USER%PASSWORD or --authfile",
        )?,
    };
    let mut options = ClientOptions::new(
        smb::Credentials::new(credentials.user(), credentials.password())
            .domain(credentials.domain()),
    );
    options.port = args.remote.port;
    options.require_encryption = args.remote.require_encryption;
    let session = std::sync::Arc::new(Session::connect(host, &options)?);
    let info = session.info().clone();
    println!("name:      {name}");
    println!("host:      {host} ({})", info.address);
    let server = [
        &info.server_name,
        &info.server_dns_name,
        &info.server_domain,
    ];
    let [nb, dns, domain] = server.map(|v| v.as_deref().unwrap_or("?"));
    println!("server:    {nb} (DNS {dns}, domain {domain})");
    println!("user:      {}", info.user);
    println!("dialect:   SMB {}", info.dialect_name());
    match info.signing {
        Some(s) => println!("signing:   {}", s.name()),
        None => println!("signing:   covered by encryption"),
    }
    match info.cipher {
        Some(c) => println!("cipher:    {}", c.name()),
        None => println!("cipher:    none (not encrypted)"),
    }
    println!(
        "limits:    read {} B, write {} B, transact {} B",
        info.max_read, info.max_write, info.max_transact
    );
    let rtt = session.echo(Duration::from_secs(5))?;
    println!("echo:      {rtt:?}");
    let state = match Pipe::open(session, pipe, ReadMode::Bytes, Duration::ZERO) {
        Ok(p) => {
            p.close()?;
            "served (opened and closed)".to_owned()
        }
        Err(smb::Error::NotFound { .. }) => "not found".to_owned(),
        Err(smb::Error::Busy { .. }) => "busy (no free instance)".to_owned(),
        Err(e) => format!("cannot open: {e}"),
    };
    println!("pipe:      {state}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authfiles_read_like_smbclient() {
        let dir = std::env::temp_dir().join(format!("pwauth-{}", std::process::id()));
        std::fs::write(&dir, "username = alice\npassword = p=w d\ndomain = CORP\n").unwrap();
        let c = read_authfile(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(
            (c.domain(), c.user(), c.password()),
            ("CORP", "alice", "p=w d")
        );
    }
}
