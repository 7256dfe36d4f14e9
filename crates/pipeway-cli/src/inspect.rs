//! `pipeway list` and `pipeway info`: what local pipes exist, who owns them,
//! and whether anyone serves them. Looking never connects to a pipe.

use std::process::ExitCode;

use pipeway::{LocalPipe, PipeState};

use crate::Result;

#[cfg(unix)]
fn owner(pipe: &LocalPipe) -> String {
    match &pipe.owner_name {
        Some(name) => format!("{name} ({})", pipe.owner),
        None => pipe.owner.to_string(),
    }
}

/// Windows tells a pipe's owner only to a client that opens it.
#[cfg(windows)]
fn owner(pipe: &LocalPipe) -> String {
    pipe.owner_name.clone().unwrap_or_else(|| "-".into())
}

/// The socket file's mode bits; Windows pipes have a security descriptor
/// instead, which only a client that opens the pipe reads.
fn mode(pipe: &LocalPipe) -> Option<u32> {
    #[cfg(unix)]
    return Some(pipe.mode);
    #[cfg(windows)]
    return {
        let _ = pipe;
        None
    };
}

/// `rw-rw----` for 0o660.
fn permissions(mode: u32) -> String {
    (0..9)
        .map(|bit| {
            let set = mode & (0o400 >> bit) != 0;
            match (set, bit % 3) {
                (false, _) => '-',
                (true, 0) => 'r',
                (true, 1) => 'w',
                (true, _) => 'x',
            }
        })
        .collect()
}

/// What the socket's type says of the pipe: `byte` for a plain stream
/// socket; `framed` for pipeway's framed wire, which a message pipe or a
/// byte pipe with an instance limit uses (which of the two only a connect
/// would tell, and listing never connects).
/// (Windows pipes have no wire of pipeway's: their type shows only to a
/// client that opens them.)
fn wire(pipe: &LocalPipe) -> &'static str {
    #[cfg(unix)]
    return match pipe.wire {
        Some(pipeway::unix::Wire::Plain) => "byte",
        Some(pipeway::unix::Wire::Framed) => "framed",
        _ => "-",
    };
    #[cfg(windows)]
    return {
        let _ = pipe;
        "-"
    };
}

fn state(pipe: &LocalPipe) -> String {
    match pipe.state {
        PipeState::Live { pid: Some(pid) } => format!("live (pid {pid})"),
        PipeState::Live { pid: None } => "live".into(),
        PipeState::Stale => "stale".into(),
        _ => "unknown".into(),
    }
}

pub(crate) fn list() -> Result<ExitCode> {
    let pipes = pipeway::local_pipes()?;
    if pipes.is_empty() {
        eprintln!("no local pipes");
    } else {
        let rows = pipes
            .iter()
            .map(|pipe| {
                vec![
                    pipe.name.clone(),
                    state(pipe),
                    owner(pipe),
                    mode(pipe).map_or_else(|| "-".into(), permissions),
                    wire(pipe).to_owned(),
                    pipe.path.display().to_string(),
                ]
            })
            .collect();
        print_table(
            &["NAME", "STATE", "OWNER", "PERMISSIONS", "TYPE", "PATH"],
            rows,
        );
    }
    #[cfg(unix)]
    shared_memory(!pipes.is_empty())?;
    Ok(ExitCode::SUCCESS)
}

/// The shared memory regions, after the pipes (`separate`: a blank line
/// first).
#[cfg(unix)]
fn shared_memory(separate: bool) -> Result<()> {
    let memory = pipeway::shm::local_shared_memory()?;
    if memory.is_empty() {
        eprintln!("no shared memory");
    } else {
        let rows = memory
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    match m.creator_pid {
                        Some(pid) => format!("live (pid {pid})"),
                        None => "stale".into(),
                    },
                    match &m.owner_name {
                        Some(name) => format!("{name} ({})", m.owner),
                        None => m.owner.to_string(),
                    },
                    permissions(m.mode),
                    m.size.to_string(),
                    m.path.display().to_string(),
                ]
            })
            .collect();
        if separate {
            println!();
        }
        print_table(
            &[
                "SHARED MEMORY",
                "STATE",
                "OWNER",
                "PERMISSIONS",
                "SIZE",
                "PATH",
            ],
            rows,
        );
    }
    Ok(())
}

/// Prints `rows` under `header` in aligned columns.
fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let widths: Vec<usize> = (0..header.len())
        .map(|col| {
            rows.iter()
                .map(|row| row[col].chars().count())
                .chain([header[col].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let print = |cells: Vec<&str>| {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    print(header.to_vec());
    for row in &rows {
        print(row.iter().map(String::as_str).collect());
    }
}

pub(crate) fn info(name: &str) -> Result<ExitCode> {
    let pipe = pipeway::inspect(name)?;
    println!("name:        {}", pipe.name);
    println!("path:        {}", pipe.path.display());
    println!("owner:       {}", owner(&pipe));
    if let Some(mode) = mode(&pipe) {
        println!("permissions: {mode:04o} ({})", permissions(mode));
    }
    match wire(&pipe) {
        "byte" => println!("type:        byte (a plain stream socket)"),
        "framed" => println!(
            "type:        framed (pipeway's framed wire: message mode, or bytes with an instance limit)"
        ),
        _ => {}
    }
    match pipe.state {
        PipeState::Live { pid } => {
            println!("live:        yes");
            match pid {
                Some(pid) => println!("server:      pid {pid}"),
                None => println!("server:      pid not visible to this user"),
            }
        }
        _ => println!(
            "live:        no (a stale socket file; the next server to bind the name reclaims it)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::permissions;

    #[test]
    fn permissions_read_like_ls() {
        assert_eq!(permissions(0o600), "rw-------");
        assert_eq!(permissions(0o660), "rw-rw----");
        assert_eq!(permissions(0o755), "rwxr-xr-x");
    }
}
