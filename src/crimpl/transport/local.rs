//! Commands on this machine, through `sh -c`, each in its own process group.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Context;

use super::{Finished, StdinFeed, StdoutSink, Stop, Stopped, Transport};

/// How often a running command looks at its stop token.
const TICK: Duration = Duration::from_millis(100);

/// Runs commands as child processes of the kernel.
#[derive(Debug, Default, Clone)]
pub struct LocalTransport;

impl Transport for LocalTransport {
    fn describe(&self) -> String {
        "this machine".into()
    }

    fn exec_stoppable(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        stdout: StdoutSink<'_>,
        stop: Option<&Stop>,
    ) -> anyhow::Result<Finished> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            // Its own group, as over SSH: a stop command can end it and its children.
            .process_group(0)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start sh on this machine")?;
        let mut child_stdout = child.stdout.take().context("no stdout pipe")?;
        let mut child_stderr = child.stderr.take().context("no stderr pipe")?;
        let child_stdin = child.stdin.take();
        let ended = AtomicBool::new(false);
        let (stdout_result, stderr_text, stdin_result, report) = thread::scope(|scope| {
            let stopper = scope.spawn(|| stop.and_then(|stop| stop_when_asked(stop, &ended)));
            let writer = scope.spawn(move || match (stdin, child_stdin) {
                (Some(feed), Some(mut pipe)) => feed(&mut pipe),
                _ => Ok(()),
            });
            let errors = scope.spawn(move || {
                let mut text = String::new();
                let _ = child_stderr.read_to_string(&mut text);
                text
            });
            let result = stdout(&mut child_stdout);
            // Drain what the reader left so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut child_stdout, &mut std::io::sink());
            let stdin_result = writer.join().unwrap_or(Ok(()));
            ended.store(true, Ordering::Relaxed);
            let report = stopper.join().unwrap_or_default();
            (
                result,
                errors.join().unwrap_or_default(),
                stdin_result,
                report,
            )
        });
        let status = child.wait().context("waiting for sh")?;
        if let Some(report) = report {
            return Err(Stopped { report }.into());
        }
        stdout_result.context("reading the command's output")?;
        if let Err(err) = stdin_result {
            // A command that exits early closes its stdin: that is its own error to report.
            if err.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(err).context("writing the command's input");
            }
        }
        Ok(Finished {
            code: status.code(),
            stderr: stderr_text,
            startup_output: String::new(),
        })
    }
}

/// Wait until `stop` fires (then run its command and return what it said)
/// or the command has `ended`.
fn stop_when_asked(stop: &Stop, ended: &AtomicBool) -> Option<String> {
    while !ended.load(Ordering::Relaxed) {
        if stop.token.is_cancelled() {
            let report = match LocalTransport.capture(&stop.command, None) {
                Ok(captured) => String::from_utf8_lossy(&captured.stdout).trim().to_string(),
                Err(err) => format!("could not run the stop command: {err:#}"),
            };
            return Some(report);
        }
        thread::sleep(TICK);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn stdin_reaches_the_command_and_stdout_comes_back() {
        let captured = LocalTransport
            .capture(
                "tr a-z A-Z",
                Some(Box::new(|w: &mut dyn Write| w.write_all(b"hello"))),
            )
            .unwrap();
        assert_eq!(captured.stdout, b"HELLO");
        assert!(captured.finished.success());
    }

    #[test]
    fn failures_carry_code_and_stderr() {
        let err = LocalTransport
            .check("echo oops >&2; exit 3", None, "the test")
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("exit 3") && message.contains("oops"),
            "{message}"
        );
    }
}
