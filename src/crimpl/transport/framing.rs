//! A command's own bytes, whatever the login shell's startup files print.
//!
//! sshd runs every command through the account's login shell, and many
//! clusters' `~/.bashrc` or `/etc/bashrc` print a line for every command
//! (quota notices, module messages, conda banners), before the command
//! starts. A login shell (`--login-shell`) reads the profile as well. Such
//! text would be taken for the command's output: it shows in a `run` cell,
//! breaks a status read and corrupts a fetched tar stream.
//!
//! So a command that runs after startup files is *framed*: it first prints a
//! marker line on stdout and on stderr ([`marked`]), and what comes before
//! the marker is set aside ([`AfterMarker`], [`split_stderr`]): the command
//! sees only its own output, and [`Finished::startup_output`] keeps what the
//! startup files said, for `server check` to name. A command that never
//! printed the marker (the shell could not run it) keeps all of its stderr,
//! which says why.
//!
//! [`Finished::startup_output`]: super::Finished::startup_output

use std::io::{self, Read};

/// The line a framed command prints first, on stdout and on stderr. Startup
/// files cannot print it by chance.
pub const MARKER: &str = "--crimpl-output-follows-7c4f0b9e--";

/// At most this much of what startup files printed is kept for messages.
const KEPT: usize = 4096;

/// `command` preceded by the marker lines (for `sh`).
pub fn marked(command: &str) -> String {
    format!("printf '%s\\n' {MARKER}; printf '%s\\n' {MARKER} >&2\n{command}")
}

/// `stderr` of a framed command split at the marker: (what the startup files
/// printed, what the command printed). Without a marker the command never
/// started, and everything is the command's (it says why).
pub fn split_stderr(stderr: &str) -> (&str, &str) {
    let line = format!("{MARKER}\n");
    match stderr.find(&line) {
        Some(at) => (&stderr[..at], &stderr[at + line.len()..]),
        None => ("", stderr),
    }
}

/// A framed command's stdout from the byte after its marker line. What came
/// before is kept (up to a few KiB) in [`AfterMarker::skipped`].
pub struct AfterMarker<R> {
    inner: R,
    /// Bytes read past the marker, served before reading `inner` again.
    ahead: Vec<u8>,
    /// How much of `ahead` was served.
    served: usize,
    found: bool,
    /// Whether the marker line was seen (not just the end of the stream).
    marked: bool,
    skipped: Vec<u8>,
}

impl<R: Read> AfterMarker<R> {
    /// Read `inner` from after its marker line.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            ahead: Vec::new(),
            served: 0,
            found: false,
            marked: false,
            skipped: Vec::new(),
        }
    }

    /// Whether the command printed its marker line (so it ran as sent).
    pub fn saw_marker(&self) -> bool {
        self.marked
    }

    /// What came before the marker (the startup files' output), as text.
    pub fn skipped(&self) -> String {
        String::from_utf8_lossy(&self.skipped).into_owned()
    }

    /// Read until the marker line, keeping the bytes after it in `ahead`.
    /// At the end of the stream without a marker, the stream is empty.
    fn find_marker(&mut self) -> io::Result<()> {
        let line = format!("{MARKER}\n");
        let mut seen: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = match self.inner.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.keep(&seen);
                self.found = true;
                return Ok(());
            }
            seen.extend_from_slice(&chunk[..n]);
            if let Some(at) = find(&seen, line.as_bytes()) {
                self.keep(&seen[..at]);
                self.ahead = seen.split_off(at + line.len());
                self.found = true;
                self.marked = true;
                return Ok(());
            }
            // Keep only what may be the start of a marker split across reads.
            let tail = seen.len().saturating_sub(line.len() - 1);
            self.keep(&seen[..tail]);
            seen.drain(..tail);
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = KEPT.saturating_sub(self.skipped.len());
        self.skipped
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl<R: Read> Read for AfterMarker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.found {
            self.find_marker()?;
        }
        if self.served < self.ahead.len() {
            let n = buf.len().min(self.ahead.len() - self.served);
            buf[..n].copy_from_slice(&self.ahead[self.served..self.served + n]);
            self.served += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// The error for a framed command that exited 0 without printing its marker
/// line: the shell on `host` did not run the command as it was sent (its text
/// or its output was lost on the way), so an empty output would be a lie.
/// Also said on the kernel's log, with what came instead, for a diagnosis.
pub fn unmarked_success(host: &str, skipped: &str, stderr: &str) -> anyhow::Error {
    eprintln!(
        "[crimpl] a command on {host} exited 0 but never printed its marker line; \
         stdout instead: {skipped:?}; stderr: {stderr:?}"
    );
    anyhow::anyhow!(
        "a command on {host} ended (exit status 0) without any of its output: it did not run \
         as sent, or its output was lost on the way. Nothing it printed can be shown: run the \
         cell again (the kernel's log has the details)"
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `data` a few bytes at a time, as a network does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(self.data.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn after_marker(data: &[u8], step: usize) -> (Vec<u8>, String) {
        let mut reader = AfterMarker::new(Trickle { data, step });
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        (out, reader.skipped())
    }

    #[test]
    fn the_banner_before_the_marker_is_set_aside_at_any_read_size() {
        let stream = format!("Welcome to the cluster! Quota: 80% used\n{MARKER}\n\x00binary\ntar");
        for step in [1, 2, 5, 7, 36, 37, 8192] {
            let (out, skipped) = after_marker(stream.as_bytes(), step);
            assert_eq!(out, b"\x00binary\ntar", "step {step}");
            assert_eq!(skipped, "Welcome to the cluster! Quota: 80% used\n");
        }
    }

    #[test]
    fn only_the_first_marker_counts_and_no_marker_means_no_output() {
        let stream = format!("{MARKER}\nout {MARKER}\n");
        assert_eq!(
            after_marker(stream.as_bytes(), 3).0,
            format!("out {MARKER}\n").as_bytes()
        );
        assert_eq!(
            after_marker(b"sh: not found\n", 4),
            (Vec::new(), "sh: not found\n".into())
        );
    }

    #[test]
    fn the_reader_says_whether_the_marker_came_or_only_the_end() {
        for (stream, marked) in [
            (format!("banner\n{MARKER}\n"), true),
            ("banner\n".into(), false),
        ] {
            let mut reader = AfterMarker::new(stream.as_bytes());
            std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
            assert_eq!(reader.saw_marker(), marked, "{stream:?}");
        }
    }

    #[test]
    fn stderr_splits_at_the_marker_or_is_all_the_commands() {
        let stderr = format!("module: loaded\n{MARKER}\nreal error\n");
        assert_eq!(split_stderr(&stderr), ("module: loaded\n", "real error\n"));
        assert_eq!(split_stderr("exec failed\n"), ("", "exec failed\n"));
    }

    #[test]
    fn a_marked_command_prints_the_markers_then_runs() {
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(marked("echo out; echo err >&2"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{MARKER}\nout\n")
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("{MARKER}\nerr\n")
        );
    }
}
