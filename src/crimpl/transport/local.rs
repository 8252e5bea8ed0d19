//! Commands on this machine, through `sh -c`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;

use anyhow::Context;

use super::{Finished, StdinFeed, StdoutSink, Transport};

/// Runs commands as child processes of the kernel.
#[derive(Debug, Default, Clone)]
pub struct LocalTransport;

impl Transport for LocalTransport {
    fn describe(&self) -> String {
        "this machine".into()
    }

    fn exec(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        stdout: StdoutSink<'_>,
    ) -> anyhow::Result<Finished> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
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
        let (stdout_result, stderr_text, stdin_result) = thread::scope(|scope| {
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
            (result, errors.join().unwrap_or_default(), stdin_result)
        });
        let status = child.wait().context("waiting for sh")?;
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
        })
    }
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
