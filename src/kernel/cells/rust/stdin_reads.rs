//! Plain reads of standard input in a Rust cell (`std::io::stdin().read_line`).
//!
//! evcxr answers `evcxr_input::get_string` through a callback, but user code
//! that reads its standard input directly reads evcxr's command pipe, where
//! nothing comes while the cell runs: it would wait for ever. evcxr gives no
//! hook for that, so on Linux the kernel watches evcxr's child process (its
//! own child) while a cell runs: a thread blocked in `read(0, ...)` on a
//! buffer other than the one evcxr's runtime reads its commands into is the
//! cell reading input. The kernel then asks the frontend (`input_request`)
//! and writes the answer into that pipe through `/proc/PID/fd/0`; if the
//! frontend does not accept input, the child is stopped and the cell fails at
//! once. On other systems such reads are not detected.

use std::process::Child;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::kernel::protocol::stdin::{InputError, InputSource};

/// How often the child's threads are looked at while a cell runs.
const POLL: Duration = Duration::from_millis(100);

/// The watch over one cell's evaluation.
pub struct RawReads {
    /// Dropped to stop the watch: the watcher wakes at once, not at its next poll.
    stop: Option<Sender<()>>,
    stop_asking: CancellationToken,
    thread: Option<JoinHandle<Option<InputError>>>,
}

impl RawReads {
    /// Watch evcxr's child `process` until [`RawReads::stop`], answering its
    /// reads of standard input from `input`.
    pub fn watch(process: Arc<Mutex<Child>>, input: InputSource) -> Self {
        let (stop, stopped) = channel();
        let (input, stop_asking) = input.stoppable();
        let thread = cfg!(target_os = "linux")
            .then(|| {
                std::thread::Builder::new()
                    .name("evcxr-stdin".into())
                    .spawn(move || watch(&process, &input, &stopped))
                    .ok()
            })
            .flatten();
        Self {
            stop: Some(stop),
            stop_asking,
            thread,
        }
    }

    /// The cell has finished: stop watching; returns why input was refused, if it was.
    pub fn stop(mut self) -> Option<InputError> {
        self.stop.take();
        self.stop_asking.cancel();
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}

/// Whether the watch should end: waits up to one poll interval for
/// [`RawReads::stop`] (which drops the sender) and says whether it came.
fn stopped(stop: &Receiver<()>, wait: Duration) -> bool {
    !matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
}

fn watch(process: &Mutex<Child>, input: &InputSource, stop: &Receiver<()>) -> Option<InputError> {
    let pid = process.lock().ok()?.id();
    // The buffer evcxr's runtime reads commands into, seen while it waits for one.
    let mut runtime_buffer = None;
    let mut seen_waiting = None;
    while !stopped(stop, POLL) {
        let reads = stdin_reads(pid);
        if runtime_buffer.is_none() {
            // Before the cell's code is loaded, only the runtime reads stdin.
            runtime_buffer = reads.first().copied();
            continue;
        }
        let waiting = reads.into_iter().find(|b| Some(*b) != runtime_buffer);
        // Seen twice in a row: the cell's code waits for input.
        if waiting.is_none() || waiting != seen_waiting {
            seen_waiting = waiting;
            continue;
        }
        seen_waiting = None;
        if stopped(stop, Duration::ZERO) {
            break;
        }
        match input.read_line("", false) {
            Ok(line) => {
                if let Err(err) = answer(pid, &line) {
                    crate::kernel::protocol::log::log(&format!(
                        "could not pass input to the Rust cell: {err}"
                    ));
                }
            }
            Err(_) if stopped(stop, Duration::ZERO) => break,
            Err(err) => {
                if err == InputError::NotAllowed
                    && let Ok(mut child) = process.lock()
                {
                    let _ = child.kill();
                }
                return Some(err);
            }
        }
    }
    None
}

/// The buffers that threads of `pid` are blocked reading standard input into.
fn stdin_reads(pid: u32) -> Vec<u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("syscall")).ok())
        .filter_map(|line| blocked_stdin_read(&line))
        .collect()
}

/// The buffer address if `syscall` (a `/proc/PID/task/TID/syscall` line) is a read of fd 0.
fn blocked_stdin_read(syscall: &str) -> Option<u64> {
    let mut fields = syscall.split_whitespace();
    let number: libc::c_long = fields.next()?.parse().ok()?;
    let fd = fields.next()?;
    let buffer = fields.next()?;
    (number == libc::SYS_read && fd == "0x0")
        .then(|| u64::from_str_radix(buffer.trim_start_matches("0x"), 16).ok())
        .flatten()
}

fn answer(pid: u32, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/fd/0"))?;
    pipe.write_all(format!("{line}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_of_fd_zero_count() {
        let read = libc::SYS_read;
        assert_eq!(
            blocked_stdin_read(&format!("{read} 0x0 0x7f00 0x2000 0x0 0x0 0x0 0x1 0x2")),
            Some(0x7f00)
        );
        assert_eq!(
            blocked_stdin_read(&format!("{read} 0x3 0x7f00 0x2000 0x0 0x0 0x0 0x1 0x2")),
            None
        );
        assert_eq!(blocked_stdin_read("running"), None);
    }
}
