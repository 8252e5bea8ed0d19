//! "Run a command, feed it input, read its output": the one thing every
//! server kind needs from the machine that holds its directory. Sending and
//! fetching files are tar streams through such a command, so the local
//! server and SSH hosts share every job operation above this trait.

pub mod askpass;
mod auth;
mod builtin_target;
mod channel_wait;
mod choose;
mod connect;
pub mod diagnose;
pub mod framing;
mod host_keys;
mod jump;
mod local;
mod openssh;
mod openssh_command;
mod openssh_config;
mod openssh_target;
mod proxy_command;
#[cfg(test)]
mod resolve_differential;
mod ssh;
mod ssh_command;
mod ssh_config;
mod ssh_target;

pub use auth::{Prompter, lend_prompter};
pub use choose::{Choice, TransportKind, choose};
pub use host_keys::{HostKeyPolicy, is_refused_host_key};
pub use local::LocalTransport;
pub use openssh::OpenSshTransport;
pub use ssh::SshTransport;
pub use ssh_target::{Resolver, SshTarget};

use std::io::{Read, Write};

use tokio_util::sync::CancellationToken;

/// Writes a command's standard input (for example a tar archive to unpack).
pub type StdinFeed<'a> = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'a>;

/// Reads a command's standard output as it arrives.
pub type StdoutSink<'a> = &'a mut dyn FnMut(&mut dyn Read) -> std::io::Result<()>;

/// How a command ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Exit status (`None` if it was killed by a signal or the channel closed without one).
    pub code: Option<i32>,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// What the login shell's startup files printed before the command ran
    /// (set aside from its output: see `framing`); empty where none ran.
    pub startup_output: String,
}

impl Finished {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// How to stop a command early: `token` says when (the user interrupted),
/// `command` is the shell command, run on the same host, that ends what the
/// command started (it prints one line saying what it did).
#[derive(Debug, Clone)]
pub struct Stop {
    /// Cancelled when the command should stop.
    pub token: CancellationToken,
    /// Ends what the command started; its output is the [`Stopped`] report.
    pub command: String,
}

/// A command that ended because it was stopped (see [`Stop`]).
#[derive(Debug, thiserror::Error)]
#[error("{report}")]
pub struct Stopped {
    /// What the stop command said it did.
    pub report: String,
}

/// A command's captured output.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its exit and stderr.
    pub finished: Finished,
}

/// A place that runs POSIX shell commands: this machine or an SSH host.
pub trait Transport: Send + Sync {
    /// Where commands run, for messages (`this machine`, `user@host:22`).
    fn describe(&self) -> String;

    /// Run `command` with `sh` (whatever the login shell), writing stdin with
    /// `stdin` (or none), and handing stdout to `stdout` as a stream. A quiet
    /// command is never cut short: it ends when it exits, when `stop` fires
    /// (then `stop.command` runs and the error is [`Stopped`]), or when the
    /// host stops answering.
    fn exec_stoppable(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        stdout: StdoutSink<'_>,
        stop: Option<&Stop>,
    ) -> anyhow::Result<Finished>;

    /// [`Transport::exec_stoppable`] for a command that runs to its end.
    fn exec(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        stdout: StdoutSink<'_>,
    ) -> anyhow::Result<Finished> {
        self.exec_stoppable(command, stdin, stdout, None)
    }

    /// Run `command` and collect its stdout.
    fn capture(&self, command: &str, stdin: Option<StdinFeed<'_>>) -> anyhow::Result<Captured> {
        let mut out = Vec::new();
        let finished = self.exec(command, stdin, &mut |reader| {
            reader.read_to_end(&mut out).map(|_| ())
        })?;
        Ok(Captured {
            stdout: out,
            finished,
        })
    }

    /// Run `command`, and fail with its stderr unless it exits 0.
    fn check(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        what: &str,
    ) -> anyhow::Result<Vec<u8>> {
        let captured = self.capture(command, stdin)?;
        if !captured.finished.success() {
            anyhow::bail!(
                "{what} failed on {} (exit {}): {}",
                self.describe(),
                captured
                    .finished
                    .code
                    .map_or("by signal".into(), |c| c.to_string()),
                captured.finished.stderr.trim()
            );
        }
        Ok(captured.stdout)
    }
}
