//! One command through the system `ssh` (see [`super::openssh`]).
//!
//! The host runs the same bootstrap line as on the libssh2 path
//! ([`ssh_command::BOOTSTRAP`]), which any login shell reads alike, and the
//! framed command follows on `ssh`'s standard input, then the command's own
//! input, written on its own thread. Stdout streams to the sink from after
//! the marker line ([`framing`]); stderr is collected on a thread. A quiet
//! command is never cut short (`ssh`'s keepalives tell a dead host); a
//! stopped one has its stop command run over the same master, then its
//! `ssh` ended.

use std::io::{self, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Context;

use super::framing::{self, AfterMarker};
use super::openssh::OpenSshTransport;
use super::ssh_command::{self, BOOTSTRAP, BOOTSTRAP_NO_INPUT};
use super::{Finished, StdinFeed, StdoutSink, Stop, Stopped, Transport};

/// How often a running command looks whether it was stopped.
const STOP_POLL: Duration = Duration::from_millis(50);
/// `ssh`'s exit status for its own failures (else it is the command's).
const SSH_FAILED: i32 = 255;

/// Run `command` on `transport`'s host.
pub(super) fn run(
    transport: &OpenSshTransport,
    command: &str,
    stdin: Option<StdinFeed<'_>>,
    stdout: StdoutSink<'_>,
    stop: Option<&Stop>,
) -> anyhow::Result<Finished> {
    let marked = framing::marked(command);
    let (bootstrap, text) = match stdin {
        Some(_) => (BOOTSTRAP, ssh_command::framed(&marked)),
        None => (BOOTSTRAP_NO_INPUT, ssh_command::braced(&marked)),
    };
    let mut child = transport
        .ssh(bootstrap)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Signals meant for the kernel (an interrupt) are not `ssh`'s.
        .process_group(0)
        .spawn()
        .context("cannot run ssh")?;
    let (Some(mut input), Some(output), Some(mut errors)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        anyhow::bail!("ssh was started without its pipes");
    };
    let child = Mutex::new(child);
    let done = AtomicBool::new(false);
    let (fed, stderr, read, report) = thread::scope(|scope| {
        let feeder = scope.spawn(move || {
            let fed = input.write_all(&text).and_then(|()| match stdin {
                Some(feed) => feed(&mut input),
                None => Ok(()),
            });
            match fed {
                // The command ended without reading all of its input: its exit says why.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            }
        });
        let collector = scope.spawn(move || {
            let mut collected = Vec::new();
            let _ = errors.read_to_end(&mut collected);
            collected
        });
        let stopper = scope.spawn(|| watch(transport, stop, &child, &done));
        let mut reader = AfterMarker::new(BufReader::with_capacity(256 * 1024, output));
        let read = stdout(&mut reader).and_then(|()| io::copy(&mut reader, &mut io::sink()));
        let startup = (reader.skipped(), reader.saw_marker());
        drop(reader);
        done.store(true, Ordering::SeqCst);
        let fed = feeder.join().unwrap_or(Ok(()));
        let stderr = collector.join().unwrap_or_default();
        let report = stopper.join().unwrap_or(None);
        (fed, (stderr, startup), read, report)
    });
    let status = child
        .into_inner()
        .map_err(|_| anyhow::anyhow!("ssh's process was lost"))?
        .wait()?;
    if let Some(report) = report {
        return Err(Stopped { report }.into());
    }
    let (stderr, (startup_stdout, marked)) = stderr;
    let stderr = String::from_utf8_lossy(&stderr);
    let (startup, own) = framing::split_stderr(&stderr);
    let started = startup.len() < stderr.len();
    if status.code() == Some(SSH_FAILED) && !started {
        return Err(transport.failure(own));
    }
    read.with_context(|| format!("reading a command's output from {}", transport.describe()))?;
    fed.with_context(|| format!("sending a command's input to {}", transport.describe()))?;
    if status.code() == Some(0) && !marked {
        return Err(framing::unmarked_success(
            &transport.describe(),
            &startup_stdout,
            own,
        ));
    }
    Ok(Finished {
        code: status.code(),
        stderr: own.to_string(),
        startup_output: format!("{startup_stdout}{startup}"),
    })
}

/// Until the command is `done`: when `stop` fires, run its stop command
/// over the same master, end `ssh` and say what the stop command reported.
fn watch(
    transport: &OpenSshTransport,
    stop: Option<&Stop>,
    child: &Mutex<Child>,
    done: &AtomicBool,
) -> Option<String> {
    let stop = stop?;
    while !done.load(Ordering::SeqCst) {
        if stop.token.is_cancelled() {
            let report = match transport.capture(&stop.command, None) {
                Ok(said) => String::from_utf8_lossy(&said.stdout).trim().to_string(),
                Err(err) => format!("could not run the stop command: {err:#}"),
            };
            if let Ok(mut child) = child.lock() {
                let _ = child.kill();
            }
            return Some(report);
        }
        thread::sleep(STOP_POLL);
    }
    None
}
