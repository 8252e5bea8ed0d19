//! One command on an open SSH session.
//!
//! While the command runs, the session is in non-blocking mode and this
//! module waits on its socket itself, so that:
//! - a quiet command is never a failure: it ends when the host closes the
//!   channel. Whenever the host has said nothing for `ServerAliveInterval`,
//!   a keepalive goes out; the connection counts as dead only when
//!   `ServerAliveCountMax` of them in a row got no answer, as with OpenSSH's
//!   client;
//! - a stopped command (the user interrupted) runs its stop command on a
//!   second channel of the same session and waits for its own channel to
//!   close: the session is free for the next command at once.
//!
//! Whatever the user's login shell (sh, bash, zsh, tcsh, fish), the channel
//! asks it for one fixed line that all of them parse alike ([`BOOTSTRAP`]);
//! the command itself follows on that `sh`'s standard input, framed so that
//! what the shell's startup files print is set aside (see [`framing`]).

use std::io::{self, Read, Write};
use std::time::Instant;

use ssh2::{Channel, Session};

use super::channel_wait::{STOPPING, Wait};
use super::framing::{self, AfterMarker};
use super::ssh_target::SshTarget;
use super::{Finished, StdinFeed, StdoutSink, Stop};

/// Channel window: large enough to keep a fast link busy on big fetches.
const WINDOW: u32 = 16 * 1024 * 1024;
/// Largest data packet the host may send (OpenSSH's own choice).
const PACKET: u32 = 32768;

/// What the login shell runs. It contains no newline, no backslash before a
/// quote or backslash, no `!` and one pair of single quotes, so sh, bash,
/// zsh, tcsh and fish all read it as the same `exec sh -c WORD`. That `sh`
/// reads a line count, then that many lines (the command), and evaluates
/// them; the rest of its standard input is the command's. A command cut
/// short (the connection dropped while sending it) is never run.
pub(super) const BOOTSTRAP: &str = "exec sh -c 'IFS= read -r n || exit 127; c=; nl=$(printf \"\\nx\"); nl=${nl%x}; \
     while [ \"$n\" -gt 0 ]; do IFS= read -r l || exit 127; c=\"$c$l$nl\"; n=$((n-1)); done; eval \"$c\"'";

/// [`BOOTSTRAP`] for a command that reads no input: `sh` reads the whole
/// command in large reads (up to the end of its input) instead of a byte at
/// a time, which status polls and other small commands would pay for. The
/// command arrives inside `{ ... }` ([`braced`]): one cut short lacks the
/// closing brace, fails to parse and never runs.
pub(super) const BOOTSTRAP_NO_INPUT: &str = "exec sh -c 'eval \"$(cat)\"'";

/// `command` as [`BOOTSTRAP_NO_INPUT`] reads it: one compound command.
pub(super) fn braced(command: &str) -> Vec<u8> {
    format!("{{\n{command}\n}}\n").into_bytes()
}

/// `command` as [`BOOTSTRAP`] reads it: its line count, then its lines.
pub(super) fn framed(command: &str) -> Vec<u8> {
    let mut text = command.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let lines = text.matches('\n').count();
    format!("{lines}\n{text}").into_bytes()
}

/// How a command failed.
pub(super) enum Failure {
    /// The command never reached the host: safe to retry on a new connection.
    BeforeSending(anyhow::Error),
    /// The connection failed while the command ran.
    AfterSending(anyhow::Error),
    /// The command was stopped on request; `report` says what the stop
    /// command did. The session is usable afterwards only if `clean`.
    Stopped {
        /// What the stop command printed (or why it could not run).
        report: String,
        /// Whether both channels closed properly.
        clean: bool,
    },
}

/// Run `command` on `session` (in non-blocking mode while it runs).
pub(super) fn run(
    session: &Session,
    target: &SshTarget,
    command: &str,
    stdin: &mut Option<StdinFeed<'_>>,
    stdout: &mut StdoutSink<'_>,
    stop: Option<&Stop>,
) -> Result<Finished, Failure> {
    session.set_blocking(false);
    let mut wait = Wait::new(session, target);
    let result = run_command(&mut wait, command, stdin, stdout, stop);
    session.set_blocking(true);
    result
}

fn run_command(
    wait: &mut Wait<'_>,
    command: &str,
    stdin: &mut Option<StdinFeed<'_>>,
    stdout: &mut StdoutSink<'_>,
    stop: Option<&Stop>,
) -> Result<Finished, Failure> {
    let before = |wait: &Wait<'_>, e: io::Error| Failure::BeforeSending(wait.explain(e));
    let mut channel = start(wait, command, stdin.is_some()).map_err(|e| before(wait, e))?;
    wait.stop = stop.map(|s| s.token.clone());
    let mut stderr = Vec::new();
    let mut eof_sent = false;
    let mut startup_stdout = String::new();
    let mut marked = false;
    // What the command printed while its input was still being sent.
    let mut early_stdout = Vec::new();
    let ran = (|| {
        if let Some(feed) = stdin.take() {
            let fed = feed(&mut Writer {
                channel: &mut channel,
                wait,
                stdout: &mut early_stdout,
                stderr: &mut stderr,
            });
            match fed {
                // The command ended without reading all of it (`mkdir` found the
                // job directory taken, `cd` failed): its exit status says why.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
        retry(wait, |_| channel.send_eof())?;
        eof_sent = true;
        let mut reader = AfterMarker::new(io::BufReader::with_capacity(
            256 * 1024,
            io::Cursor::new(early_stdout).chain(Reader {
                channel: &mut channel,
                wait,
                stderr: &mut stderr,
            }),
        ));
        stdout(&mut reader)?;
        io::copy(&mut reader, &mut io::sink())?;
        startup_stdout = reader.skipped();
        marked = reader.saw_marker();
        Ok(())
    })();
    if let Err(err) = ran {
        return Err(match (stop, wait.stopped) {
            (Some(stop), true) => stop_command(wait, channel, eof_sent, stop),
            _ => Failure::AfterSending(wait.explain(err)),
        });
    }
    wait.stop = None;
    let mut finished =
        finish(wait, &mut channel, stderr).map_err(|e| Failure::AfterSending(wait.explain(e)))?;
    if finished.code == Some(0) && !marked {
        return Err(Failure::AfterSending(framing::unmarked_success(
            &wait.host,
            &startup_stdout,
            &finished.stderr,
        )));
    }
    finished.startup_output.insert_str(0, &startup_stdout);
    Ok(finished)
}

/// Open a channel, start [`BOOTSTRAP`] (or [`BOOTSTRAP_NO_INPUT`] for a
/// command without `input`) and send it `command`, framed.
fn start(wait: &mut Wait<'_>, command: &str, input: bool) -> io::Result<Channel> {
    let session = wait.session;
    let mut channel = retry(wait, |_| {
        session.channel_open("session", WINDOW, PACKET, None)
    })?;
    let command = &framing::marked(command);
    let (bootstrap, text) = if input {
        (BOOTSTRAP, framed(command))
    } else {
        (BOOTSTRAP_NO_INPUT, braced(command))
    };
    retry(wait, |_| channel.exec(bootstrap))?;
    // Nothing but the startup files' output can come before the command has
    // been read whole (sh reads it all first): no one needs it kept.
    let (mut printed, mut errors) = (Vec::new(), Vec::new());
    Writer {
        channel: &mut channel,
        wait,
        stdout: &mut printed,
        stderr: &mut errors,
    }
    .write_all(&text)?;
    Ok(channel)
}

/// After the command's output ended: the rest of its stderr, its close and exit.
fn finish(wait: &mut Wait<'_>, channel: &mut Channel, mut stderr: Vec<u8>) -> io::Result<Finished> {
    let mut buffer = [0u8; 8192];
    loop {
        match channel.stderr().read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => stderr.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait.wait()?,
            Err(e) => return Err(e),
        }
    }
    retry(wait, |_| channel.wait_close())?;
    let signalled = channel
        .exit_signal()
        .ok()
        .and_then(|s| s.exit_signal)
        .is_some();
    let stderr = String::from_utf8_lossy(&stderr);
    let (startup, own) = framing::split_stderr(&stderr);
    Ok(Finished {
        code: if signalled {
            None
        } else {
            channel.exit_status().ok()
        },
        stderr: own.to_string(),
        startup_output: startup.to_string(),
    })
}

/// The user stopped the command: run `stop.command` on a second channel,
/// then let the first one end (its standard input closed, its output
/// dropped) and close.
fn stop_command(wait: &mut Wait<'_>, mut channel: Channel, eof_sent: bool, stop: &Stop) -> Failure {
    wait.stop = None;
    wait.deadline = Some(Instant::now() + STOPPING);
    if !eof_sent {
        // A command still reading its input (an upload) sees it end.
        let _ = retry(wait, |_| channel.send_eof());
    }
    let report = (|| {
        let mut stopper = start(wait, &stop.command, false)?;
        retry(wait, |_| stopper.send_eof())?;
        let mut said = Vec::new();
        let mut ignored = Vec::new();
        AfterMarker::new(Reader {
            channel: &mut stopper,
            wait,
            stderr: &mut ignored,
        })
        .read_to_end(&mut said)?;
        let _ = finish(wait, &mut stopper, ignored);
        Ok::<_, io::Error>(String::from_utf8_lossy(&said).trim().to_string())
    })();
    let closed = (|| {
        let mut ignored = Vec::new();
        io::copy(
            &mut Reader {
                channel: &mut channel,
                wait,
                stderr: &mut ignored,
            },
            &mut io::sink(),
        )?;
        retry(wait, |_| channel.wait_close())
    })();
    match report {
        Ok(report) => Failure::Stopped {
            report,
            clean: closed.is_ok(),
        },
        Err(err) => Failure::Stopped {
            report: format!("could not run the stop command: {}", wait.explain(err)),
            clean: false,
        },
    }
}

/// Call a libssh2 operation until it no longer asks to be called again.
fn retry<T>(
    wait: &mut Wait<'_>,
    mut operation: impl FnMut(&mut Wait<'_>) -> Result<T, ssh2::Error>,
) -> io::Result<T> {
    loop {
        match operation(wait).map_err(io::Error::from) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait.wait()?,
            other => return other,
        }
    }
}

/// The command's stdout, waiting (and keeping stderr) as needed.
struct Reader<'c, 'w> {
    channel: &'c mut Channel,
    wait: &'c mut Wait<'w>,
    stderr: &'c mut Vec<u8>,
}

impl Read for Reader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait.check_stop()?;
        loop {
            match self.channel.read(buf) {
                Ok(n) => {
                    if n > 0 {
                        self.wait.heard();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Keep stderr moving so that it never fills the window.
                    let mut chunk = [0u8; 8192];
                    while let Ok(n @ 1..) = self.channel.stderr().read(&mut chunk) {
                        self.stderr.extend_from_slice(&chunk[..n]);
                    }
                    self.wait.wait()?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The command's stdin. A write that has started is always finished (libssh2
/// needs the same packet again), so a stop is noticed between writes. While
/// the host takes no more input, what the command prints is kept (`stdout`,
/// `stderr`): a command that ended without reading all its input then shows
/// its end (libssh2 reports the end only once its output has been read), and
/// the write fails with `BrokenPipe` instead of waiting for ever.
struct Writer<'c, 'w> {
    channel: &'c mut Channel,
    wait: &'c mut Wait<'w>,
    stdout: &'c mut Vec<u8>,
    stderr: &'c mut Vec<u8>,
}

impl Writer<'_, '_> {
    /// Keep what the command printed so far; whether it has ended.
    fn ended(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = self.channel.read(&mut chunk) {
            self.stdout.extend_from_slice(&chunk[..n]);
        }
        while let Ok(n @ 1..) = self.channel.stderr().read(&mut chunk) {
            self.stderr.extend_from_slice(&chunk[..n]);
        }
        self.channel.eof()
    }
}

impl Write for Writer<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wait.check_stop()?;
        let stop = self.wait.stop.take();
        let written = loop {
            match self.channel.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.ended() {
                        break Err(io::Error::new(
                            io::ErrorKind::BrokenPipe,
                            "the command ended before reading all of its input",
                        ));
                    }
                    if let Err(err) = self.wait.wait() {
                        break Err(err);
                    }
                }
                other => break other,
            }
        };
        self.wait.stop = stop;
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.channel.flush() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait.wait()?,
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// Run `command` the way the host's login shell `shell` would get it
    /// (with `input` after it, or alone when there is none).
    fn through(shell: &str, command: &str, input: &[u8]) -> Option<String> {
        if !std::path::Path::new(shell).exists() {
            return None;
        }
        let (bootstrap, text) = match input {
            [] => (BOOTSTRAP_NO_INPUT, braced(command)),
            _ => (BOOTSTRAP, framed(command)),
        };
        let mut child = Command::new(shell)
            .arg("-c")
            .arg(bootstrap)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&text).unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        Some(String::from_utf8(output.stdout).unwrap())
    }

    #[test]
    fn commands_and_their_input_reach_sh_through_any_shell() {
        let command = "printf '%s|' \"a  b\" 'it'\\''s' '\\n' \"$((1+1))\"\ncat\nif true; then\n  echo done\nfi";
        let mut ran = 0;
        for shell in [
            "/bin/sh",
            "/bin/bash",
            "/bin/dash",
            "/bin/tcsh",
            "/usr/bin/fish",
        ] {
            if let Some(out) = through(shell, command, b"input\n") {
                assert_eq!(out, "a  b|it's|\\n|2|input\ndone\n", "through {shell}");
                ran += 1;
            }
            if let Some(out) = through(shell, command, b"") {
                assert_eq!(out, "a  b|it's|\\n|2|done\n", "through {shell}, no input");
            }
        }
        assert!(ran >= 2, "at least sh and bash run here");
    }

    #[test]
    fn a_command_cut_short_never_runs() {
        let command = "echo first\necho second";
        for (bootstrap, mut text) in [
            (BOOTSTRAP, framed(command)),
            (BOOTSTRAP_NO_INPUT, braced(command)),
        ] {
            text.truncate(text.len() - 6);
            let output = Command::new("/bin/sh")
                .arg("-c")
                .arg(bootstrap)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .and_then(|mut child| {
                    child.stdin.take().unwrap().write_all(&text)?;
                    child.wait_with_output()
                })
                .unwrap();
            assert_eq!(output.stdout, b"", "{bootstrap}");
            assert!(!output.status.success(), "{bootstrap}");
        }
    }
}
