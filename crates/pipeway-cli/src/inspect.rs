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
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = pipes
        .iter()
        .map(|pipe| {
            [
                pipe.name.clone(),
                state(pipe),
                owner(pipe),
                mode(pipe).map_or_else(|| "-".into(), permissions),
                pipe.path.display().to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "STATE", "OWNER", "MODE", "PATH"];
    let widths: Vec<usize> = (0..5)
        .map(|col| {
            rows.iter()
                .map(|row| row[col].len())
                .chain([header[col].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let print = |cells: [&str; 5]| {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    print(header);
    for row in &rows {
        print([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn info(name: &str) -> Result<ExitCode> {
    let pipe = pipeway::inspect(name)?;
    println!("name:   {}", pipe.name);
    println!("path:   {}", pipe.path.display());
    println!("owner:  {}", owner(&pipe));
    if let Some(mode) = mode(&pipe) {
        println!("mode:   {mode:04o} ({})", permissions(mode));
    }
    match pipe.state {
        PipeState::Live { pid } => {
            println!("live:   yes");
            match pid {
                Some(pid) => println!("server: pid {pid}"),
                None => println!("server: pid not visible to this user"),
            }
        }
        _ => println!(
            "live:   no (a stale socket file; the next server to bind the name reclaims it)"
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
