//! One jump: a `direct-tcpip` channel on a jump host's session, bridged to
//! a local socket that the next session runs on.
//!
//! libssh2 sessions are not thread-safe for concurrent reads and writes,
//! so one thread per hop owns the jump session in non-blocking mode and
//! moves bytes both ways, sleeping in `poll` on the local socket and the
//! jump session's own descriptor. It ends when either side closes, and
//! the jump session ends with it.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::thread;

use anyhow::Context;
use ssh2::{BlockDirections, Channel};

use super::connect::Connected;
use super::ssh_target::SshTarget;

/// Bytes read at once from either side.
const CHUNK: usize = 64 * 1024;
/// Longest sleep in `poll` (libssh2 may hold data it read ahead).
const POLL_MS: i32 = 200;

/// A local socket carrying a channel from `hop` to `next`'s host and port.
pub fn tunnel(hop: Connected, next: &SshTarget) -> anyhow::Result<UnixStream> {
    let channel = hop
        .session
        .channel_direct_tcpip(&next.host_name, next.port, None)
        .with_context(|| {
            format!(
                "the jump host did not open a channel to {}:{} (is the name right as the jump \
                 host sees it, and does its sshd allow TCP forwarding?)",
                next.host_name, next.port
            )
        })?;
    let (ours, theirs) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    hop.session.set_blocking(false);
    let name = format!("ssh-jump-{}", next.host_name);
    thread::Builder::new()
        .name(name)
        .spawn(move || bridge(hop, channel, ours))?;
    Ok(theirs)
}

/// Move bytes between `channel` and `local` until either side ends.
fn bridge(hop: Connected, mut channel: Channel, mut local: UnixStream) {
    let mut to_local: Vec<u8> = Vec::new();
    let mut to_remote: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut progress = false;
        if to_local.is_empty() {
            match channel.read(&mut buf) {
                Ok(0) if channel.eof() => break,
                Ok(n) => {
                    progress |= n > 0;
                    to_local.extend_from_slice(&buf[..n]);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !to_local.is_empty() {
            match local.write(&to_local) {
                Ok(n) => {
                    progress |= n > 0;
                    to_local.drain(..n);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if to_remote.is_empty() {
            match local.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    progress = true;
                    to_remote.extend_from_slice(&buf[..n]);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !to_remote.is_empty() {
            match channel.write(&to_remote) {
                Ok(n) => {
                    progress |= n > 0;
                    to_remote.drain(..n);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !progress {
            wait(&hop, &local, !to_local.is_empty(), to_remote.is_empty());
        }
    }
    local.shutdown(std::net::Shutdown::Both).ok();
    channel.close().ok();
}

/// Sleep until the local socket or the jump session's descriptor is ready
/// for what the bridge waits on (or the poll interval passes).
fn wait(hop: &Connected, local: &UnixStream, pending_out: bool, want_in: bool) {
    let mut local_events = 0;
    if want_in {
        local_events |= libc::POLLIN;
    }
    if pending_out {
        local_events |= libc::POLLOUT;
    }
    let remote_events = match hop.session.block_directions() {
        BlockDirections::Inbound => libc::POLLIN,
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        BlockDirections::None => libc::POLLIN,
    };
    let mut fds = [
        poll_fd(local.as_raw_fd(), local_events),
        poll_fd(hop.fd, remote_events),
    ];
    // SAFETY: `fds` is a valid array of two pollfd structs for the call's duration.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS);
    }
}

fn poll_fd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
