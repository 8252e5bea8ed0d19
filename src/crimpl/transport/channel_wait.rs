//! Waiting on an SSH session's socket while libssh2 works in non-blocking
//! mode (see [`super::ssh_command`]): keepalives while the host is quiet,
//! the host counted dead after `ServerAliveCountMax` unanswered ones, a stop
//! token noticed at once, and a deadline while stopping.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, Session};
use tokio_util::sync::CancellationToken;

use super::ssh_target::SshTarget;

/// How often a wait looks at the stop token.
const TICK: Duration = Duration::from_millis(100);
/// How long stopping may take (the stop command, then the command's channel closing).
pub(super) const STOPPING: Duration = Duration::from_secs(15);

/// Waits on the session's socket for libssh2, sending keepalives while the
/// host is quiet and counting those it leaves unanswered.
pub(super) struct Wait<'a> {
    pub(super) session: &'a Session,
    fd: RawFd,
    /// The host, as messages name it.
    pub(super) host: String,
    interval: Duration,
    count_max: u32,
    /// When the host last sent something, or the last keepalive went out.
    quiet_since: Instant,
    /// Keepalives sent since the host last sent something.
    unanswered: u32,
    /// Set while the command may be stopped.
    pub(super) stop: Option<CancellationToken>,
    /// The stop token fired (and a wait or read returned [`Interruption::Stop`]).
    pub(super) stopped: bool,
    /// Why the connection counts as dead, once it does.
    dead: Option<String>,
    /// When waiting must give up (while stopping).
    pub(super) deadline: Option<Instant>,
}

/// Why a wait gave up, carried inside an `io::Error` through the caller's
/// reader or writer.
#[derive(Debug, thiserror::Error)]
enum Interruption {
    #[error("the command was stopped")]
    Stop,
    #[error("{0}")]
    Dead(String),
    #[error("stopping took longer than {} s", STOPPING.as_secs())]
    Deadline,
}

impl<'a> Wait<'a> {
    pub(super) fn new(session: &'a Session, target: &SshTarget) -> Self {
        Self {
            session,
            fd: session.as_raw_fd(),
            host: target.describe(),
            interval: target.server_alive_interval,
            count_max: target.server_alive_count_max,
            quiet_since: Instant::now(),
            unanswered: 0,
            stop: None,
            stopped: false,
            dead: None,
            deadline: None,
        }
    }

    /// The error to report for `err`: why the connection died, if it did.
    pub(super) fn explain(&self, err: io::Error) -> anyhow::Error {
        match &self.dead {
            Some(reason) => anyhow::anyhow!("{reason}"),
            None => err.into(),
        }
    }

    /// Fails with [`Interruption::Stop`] once the stop token has fired.
    pub(super) fn check_stop(&mut self) -> io::Result<()> {
        if self.stop.as_ref().is_some_and(|t| t.is_cancelled()) {
            self.stopped = true;
            return Err(io::Error::other(Interruption::Stop));
        }
        Ok(())
    }

    /// The host sent something: it is alive.
    pub(super) fn heard(&mut self) {
        self.quiet_since = Instant::now();
        self.unanswered = 0;
    }

    /// Block until libssh2 can make progress on the socket.
    pub(super) fn wait(&mut self) -> io::Result<()> {
        loop {
            self.check_stop()?;
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::other(Interruption::Deadline));
            }
            let outbound = matches!(
                self.session.block_directions(),
                BlockDirections::Outbound | BlockDirections::Both
            );
            let mut slice = TICK;
            if !self.interval.is_zero() {
                slice = slice.min(self.interval.saturating_sub(self.quiet_since.elapsed()));
            }
            let (readable, writable) = poll(self.fd, outbound, slice)?;
            if readable {
                self.heard();
                return Ok(());
            }
            if writable {
                return Ok(());
            }
            self.keepalive()?;
        }
    }

    /// Send a keepalive if the host has been quiet for the interval; give up
    /// when the last `count_max` went unanswered.
    fn keepalive(&mut self) -> io::Result<()> {
        if self.interval.is_zero() || self.quiet_since.elapsed() < self.interval {
            return Ok(());
        }
        if self.unanswered >= self.count_max {
            let reason = format!(
                "{} stopped answering: no reply to {} keepalives over {} s \
                 (ServerAliveInterval {} s, ServerAliveCountMax {}, from ~/.ssh/config or the defaults). \
                 The connection is dropped and the next command reconnects; what the command \
                 started may still run there",
                self.host,
                self.unanswered,
                self.interval.as_secs_f64() * f64::from(self.unanswered + 1),
                self.interval.as_secs_f64(),
                self.count_max,
            );
            self.dead = Some(reason.clone());
            return Err(io::Error::other(Interruption::Dead(reason)));
        }
        // libssh2 drops a keepalive that finds the send buffer full: a host
        // that stops reading then counts as not answering, as it should.
        self.session.keepalive_send().map_err(io::Error::from)?;
        self.unanswered += 1;
        self.quiet_since = Instant::now();
        Ok(())
    }
}

/// Wait up to `timeout` for `fd` to be readable (or writable, if `outbound`):
/// (readable, writable). A hang-up or error counts as readable, so that the
/// next read reports it.
fn poll(fd: RawFd, outbound: bool, timeout: Duration) -> io::Result<(bool, bool)> {
    let mut events = libc::POLLIN;
    if outbound {
        events |= libc::POLLOUT;
    }
    let mut entry = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid, initialised pollfd that outlives the call.
    let ready = unsafe { libc::poll(&mut entry, 1, millis) };
    if ready < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::Interrupted => Ok((false, false)),
            _ => Err(err),
        };
    }
    let readable = entry.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
    Ok((readable, entry.revents & libc::POLLOUT != 0))
}
