//! `ProxyCommand`: a local command whose standard input and output carry
//! the SSH connection (`ssh -W %h:%p gate`, `nc %h %p`, a cloud CLI's
//! tunnel), bridged to a local socket that the session runs on.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::thread;

use anyhow::Context;

use super::ssh_target::SshTarget;

/// Start `command` (tokens already expanded) with `sh -c`; returns the
/// socket whose bytes it carries. The command's stderr goes to the kernel's
/// log; it is ended when the session closes the socket.
pub fn spawn(command: &str, target: &SshTarget) -> anyhow::Result<UnixStream> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start the ProxyCommand of {}: {command}",
                target.spec
            )
        })?;
    let (ours, theirs) = UnixStream::pair()?;
    let mut stdin = child
        .stdin
        .take()
        .context("the ProxyCommand has no stdin")?;
    let mut stdout = child
        .stdout
        .take()
        .context("the ProxyCommand has no stdout")?;
    let mut from_command = ours.try_clone()?;
    let mut to_command = ours;
    thread::Builder::new()
        .name("ssh-proxy-out".into())
        .spawn(move || {
            std::io::copy(&mut stdout, &mut from_command).ok();
            from_command.shutdown(std::net::Shutdown::Both).ok();
        })?;
    thread::Builder::new()
        .name("ssh-proxy-in".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = to_command.read(&mut buf) {
                if n == 0 || stdin.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            // The session is gone (or the command stopped reading): end the command we started.
            drop(stdin);
            child.kill().ok();
            child.wait().ok();
        })?;
    Ok(theirs)
}
