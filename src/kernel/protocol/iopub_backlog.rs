//! How much output may wait for iopub, and what happens past that: the
//! kernel never holds more than [`LIMIT`] bytes of `stream` output waiting
//! to be handed to the iopub socket (a cell can print faster than the iopub
//! thread forwards; each client's own queue is bounded by libzmq, see
//! [`super::iopub`]). Past it, stream messages are dropped (status, results,
//! errors and displays never are), and the next stream message that fits is
//! preceded by a note saying how many were dropped.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of stream messages that may wait to be sent.
pub const LIMIT: usize = 16 << 20;

/// Output accepted but not yet handed to the iopub socket, shared by every publisher and the iopub thread.
#[derive(Debug, Default)]
pub struct Backlog {
    bytes: AtomicUsize,
    dropped: AtomicUsize,
}

/// What to do with one message offered to the backlog.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Send it; `dropped_before` stream messages were dropped since the last one sent.
    Send {
        /// How many stream messages were dropped before this one.
        dropped_before: usize,
    },
    /// Drop it: too much output is waiting.
    Drop,
}

impl Backlog {
    /// Offer a message of `size` bytes; only `stream` messages are ever dropped.
    pub fn admit(&self, msg_type: &str, size: usize) -> Admission {
        let droppable = msg_type == "stream";
        if droppable && self.bytes.load(Ordering::Acquire) + size > LIMIT {
            self.dropped.fetch_add(1, Ordering::AcqRel);
            return Admission::Drop;
        }
        self.bytes.fetch_add(size, Ordering::AcqRel);
        let dropped_before = if droppable {
            self.dropped.swap(0, Ordering::AcqRel)
        } else {
            0
        };
        Admission::Send { dropped_before }
    }

    /// A message of `size` bytes left the kernel (sent, or given up on).
    pub fn sent(&self, size: usize) {
        self.bytes.fetch_sub(size, Ordering::AcqRel);
    }
}

/// The note published in place of dropped output.
pub fn dropped_note(count: usize) -> String {
    format!(
        "[crimpl-kernel: {count} output message(s) dropped here: a client was not reading the \
         kernel's output, and at most {} MiB may wait]\n",
        LIMIT >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_streams_are_dropped_and_the_next_one_says_so() {
        let backlog = Backlog::default();
        assert_eq!(
            backlog.admit("stream", LIMIT),
            Admission::Send { dropped_before: 0 }
        );
        assert_eq!(backlog.admit("stream", 1), Admission::Drop);
        assert_eq!(backlog.admit("stream", 1), Admission::Drop);
        assert_eq!(
            backlog.admit("status", 100),
            Admission::Send { dropped_before: 0 }
        );
        backlog.sent(LIMIT);
        backlog.sent(100);
        assert_eq!(
            backlog.admit("stream", 1),
            Admission::Send { dropped_before: 2 }
        );
    }
}
