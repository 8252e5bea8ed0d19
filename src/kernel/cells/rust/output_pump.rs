//! The pump that forwards evcxr's output lines to the running cell.
//!
//! evcxr reads its child's stdout itself and returns from a cell only after
//! the child's end-of-cell line there, so every stdout line of a cell has
//! reached the pump's channel by then. Its child's stderr is read by a thread
//! of evcxr's own, which may not have read the cell's last `eprintln!` yet.
//! So at the end of a cell the pump's own thread writes a marker line into
//! that same pipe (through `/proc/PID/fd/2`, which opens the pipe again) and
//! forwards stderr until the marker comes back: everything the cell wrote is
//! then forwarded, in order, before the cell's reply. Each flush has its own
//! marker (numbered), so one that came back late is never taken for the next.
//! Where that file cannot be opened (not Linux, or the child is gone), the
//! pump forwards what has arrived.

use std::fs::OpenOptions;
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};

use crate::kernel::cells::output::CellSink;
use crate::magics::StreamName;

/// The start of the line written after a cell's stderr (its flush's number
/// follows); never shown.
const STDERR_MARKER: &str = "--crimpl-stderr-drained-5d1e93a4--";

/// How long a flush waits for its marker to come back.
const MARKER_WAIT: Duration = Duration::from_secs(2);

enum PumpControl {
    Attach(Option<CellSink>),
    Flush {
        pid: Option<u32>,
        done: Sender<Option<String>>,
    },
}

/// Forwards evcxr's output lines to the cell that is running.
pub struct OutputPump {
    control: Sender<PumpControl>,
}

impl OutputPump {
    /// Start the pump's thread on evcxr's two output channels.
    pub fn start(stdout: Receiver<String>, stderr: Receiver<String>) -> Self {
        let (control, commands) = crossbeam_channel::unbounded();
        thread::Builder::new()
            .name("evcxr-output".into())
            .spawn(move || pump(stdout, stderr, commands))
            .expect("spawning the evcxr output thread");
        Self { control }
    }

    /// Send lines to `sink` from now on (`None`: drop them).
    pub fn attach(&self, sink: Option<CellSink>) {
        let _ = self.control.send(PumpControl::Attach(sink));
    }

    /// Wait until every line the child process `pid` has written so far has
    /// been forwarded; the panic the cell's stderr reported since it was
    /// attached, if any.
    pub fn flush(&self, pid: Option<u32>) -> Option<String> {
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.control.send(PumpControl::Flush { pid, done }).is_ok() {
            return wait.recv().ok().flatten();
        }
        None
    }
}

/// Write `marker` as a line into the stderr pipe of process `pid`.
fn send_marker(pid: u32, marker: &str) -> bool {
    OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/fd/2"))
        .and_then(|mut pipe| pipe.write_all(format!("{marker}\n").as_bytes()))
        .is_ok()
}

fn pump(stdout: Receiver<String>, stderr: Receiver<String>, control: Receiver<PumpControl>) {
    let mut state = PumpState::default();
    loop {
        select! {
            recv(stdout) -> line => match line {
                Ok(line) => state.emit(StreamName::Stdout, line),
                Err(_) => return,
            },
            recv(stderr) -> line => match line {
                Ok(line) => {
                    // A marker here is one that came back after its flush gave up.
                    state.emit_stderr(line);
                }
                Err(_) => return,
            },
            recv(control) -> command => match command {
                Ok(PumpControl::Attach(sink)) => {
                    state.sink = sink;
                    state.panic = Panic::default();
                }
                Ok(PumpControl::Flush { pid, done }) => {
                    while let Ok(line) = stdout.try_recv() {
                        state.emit(StreamName::Stdout, line);
                    }
                    state.flushes += 1;
                    let marker = format!("{STDERR_MARKER}{}", state.flushes);
                    if pid.is_some_and(|pid| send_marker(pid, &marker)) {
                        state.forward_until_marker(&stderr, &marker);
                    }
                    while let Ok(line) = stderr.try_recv() {
                        state.emit_stderr(line);
                    }
                    let _ = done.send(state.panic.message.take());
                }
                Err(_) => return,
            },
        }
    }
}

#[derive(Default)]
struct PumpState {
    sink: Option<CellSink>,
    panic: Panic,
    /// How many flushes there were (each marker carries its number).
    flushes: u64,
}

impl PumpState {
    fn emit(&mut self, name: StreamName, mut line: String) {
        if name == StreamName::Stderr {
            self.panic.read(&line);
        }
        if let Some(sink) = &self.sink {
            line.push('\n');
            sink.stream(name, &line);
        }
    }

    /// Forward a stderr line, leaving out a marker (which ends the text of a
    /// line the cell did not finish with a newline); the marker it held.
    fn emit_stderr(&mut self, line: String) -> Option<String> {
        match line.find(STDERR_MARKER) {
            Some(at) => {
                if at > 0 {
                    self.emit(StreamName::Stderr, line[..at].to_string());
                }
                Some(line[at..].to_string())
            }
            None => {
                self.emit(StreamName::Stderr, line);
                None
            }
        }
    }

    /// Forward stderr until `marker`, just written, comes back, for at most
    /// [`MARKER_WAIT`] (an older one, late, is left out on the way).
    fn forward_until_marker(&mut self, stderr: &Receiver<String>, marker: &str) {
        let deadline = Instant::now() + MARKER_WAIT;
        while let Ok(line) = stderr.recv_deadline(deadline) {
            if self.emit_stderr(line).as_deref() == Some(marker) {
                return;
            }
        }
    }
}

/// A panic reported on the cell's stderr by Rust's panic hook: `thread
/// 'NAME' (ID) panicked at FILE:LINE:COL:` and the message on the next line.
#[derive(Default)]
struct Panic {
    message: Option<String>,
    awaiting_text: bool,
}

impl Panic {
    fn read(&mut self, line: &str) {
        if self.awaiting_text {
            self.awaiting_text = false;
            if let Some(message) = &mut self.message {
                message.push_str(": ");
                message.push_str(line.trim());
            }
        } else if self.message.is_none()
            && line.starts_with("thread '")
            && let Some((_, place)) = line.trim_end().split_once(" panicked at ")
            && let Some(place) = place.strip_suffix(':')
            && is_source_place(place)
        {
            self.message = Some(format!("the cell panicked at {place}"));
            self.awaiting_text = true;
        }
    }
}

/// Whether `place` reads `FILE:LINE:COLUMN`, as the panic hook writes it.
fn is_source_place(place: &str) -> bool {
    let mut parts = place.rsplitn(3, ':');
    let numbers = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    numbers(parts.next())
        && numbers(parts.next())
        && parts
            .next()
            .is_some_and(|file| !file.is_empty() && !file.contains(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_waits_for_its_own_marker_not_one_that_came_back_late() {
        let (lines, stderr) = crossbeam_channel::unbounded();
        for line in ["1", "last words", "2", "the next cell's"] {
            let line = match line {
                "1" | "2" => format!("{STDERR_MARKER}{line}"),
                text => text.to_string(),
            };
            lines.send(line).unwrap();
        }
        let mut state = PumpState::default();
        state.forward_until_marker(&stderr, &format!("{STDERR_MARKER}2"));
        assert_eq!(stderr.try_recv().unwrap(), "the next cell's");
    }

    #[test]
    fn a_marker_after_unfinished_text_ends_that_text() {
        let mut state = PumpState::default();
        let marker = format!("{STDERR_MARKER}7");
        assert_eq!(
            state.emit_stderr(format!("no newline{marker}")),
            Some(marker)
        );
        assert_eq!(state.emit_stderr("plain".into()), None);
    }
}
