//! Coalescing a cell's `stream` output: text is gathered per stream and sent
//! every [`WINDOW`] or [`MAX_BYTES`], whichever comes first, and whenever the
//! cell shows something else (a display, a result, an error) or ends.
//!
//! Jupyter Server stops forwarding iopub above 1000 messages a second; one
//! message per printed line reaches that with a few thousand lines. Batched,
//! a cell sends at most [`MAX_SEGMENTS`] stream messages per window, however
//! much it prints. Within a window the order of stdout and stderr is kept as
//! it arrived (consecutive text of one stream becomes one message), unless the
//! two alternate more than [`MAX_SEGMENTS`] times: then that window's text is
//! sent as one message per stream, each in its own order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jupyter_protocol::Header;
use serde_json::json;
use tokio::runtime::Handle;

use crate::kernel::protocol::iopub::Publisher;
use crate::magics::StreamName;

/// The longest text waits before it is sent.
pub const WINDOW: Duration = Duration::from_millis(50);
/// Pending text of this size is sent at once.
pub const MAX_BYTES: usize = 64 * 1024;
/// The most stream messages one window sends.
pub const MAX_SEGMENTS: usize = 8;

/// The pending stream text of one cell; shared by every clone of its sink.
pub struct StreamBatcher {
    publisher: Publisher,
    parent: Header,
    /// The runtime that runs the window timer (none outside a runtime: then
    /// text is sent at once).
    runtime: Option<Handle>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    segments: Vec<(StreamName, String)>,
    bytes: usize,
    timer_armed: bool,
}

impl StreamBatcher {
    /// A batcher publishing the streams of the request with header `parent`.
    pub fn new(publisher: Publisher, parent: Header) -> Arc<Self> {
        Arc::new(Self {
            publisher,
            parent,
            runtime: Handle::try_current().ok(),
            pending: Mutex::default(),
        })
    }

    /// Add `text` to stream `name`; it is sent within [`WINDOW`].
    pub fn push(self: &Arc<Self>, name: StreamName, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut pending = self.lock();
        match pending.segments.last_mut() {
            Some((last, buffer)) if *last == name => buffer.push_str(text),
            _ => pending.segments.push((name, text.to_string())),
        }
        pending.bytes += text.len();
        if pending.bytes >= MAX_BYTES {
            self.send(&mut pending);
            return;
        }
        if pending.timer_armed {
            return;
        }
        match &self.runtime {
            Some(runtime) => {
                pending.timer_armed = true;
                let batcher = self.clone();
                runtime.spawn(async move {
                    tokio::time::sleep(WINDOW).await;
                    batcher.flush();
                });
            }
            None => self.send(&mut pending),
        }
    }

    /// Send everything pending now.
    pub fn flush(&self) {
        let mut pending = self.lock();
        self.send(&mut pending);
    }

    /// Publish the pending segments (while the lock is held, so that
    /// concurrent flushes keep the order).
    fn send(&self, pending: &mut Pending) {
        let segments = std::mem::take(&mut pending.segments);
        pending.bytes = 0;
        pending.timer_armed = false;
        for (name, text) in coalesce(segments) {
            let name = match name {
                StreamName::Stdout => "stdout",
                StreamName::Stderr => "stderr",
            };
            self.publisher.publish(
                "stream",
                json!({ "name": name, "text": text }),
                Some(&self.parent),
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// At most [`MAX_SEGMENTS`] segments: more become one per stream.
fn coalesce(segments: Vec<(StreamName, String)>) -> Vec<(StreamName, String)> {
    if segments.len() <= MAX_SEGMENTS {
        return segments;
    }
    let mut merged: Vec<(StreamName, String)> = Vec::with_capacity(2);
    for (name, text) in segments {
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, buffer)) => buffer.push_str(&text),
            None => merged.push((name, text)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(names: &[(StreamName, &str)]) -> Vec<(StreamName, String)> {
        names.iter().map(|(n, t)| (*n, t.to_string())).collect()
    }

    #[test]
    fn few_segments_keep_their_order() {
        let input = segments(&[
            (StreamName::Stdout, "a"),
            (StreamName::Stderr, "b"),
            (StreamName::Stdout, "c"),
        ]);
        assert_eq!(coalesce(input.clone()), input);
    }

    #[test]
    fn many_alternations_become_one_message_per_stream() {
        let input: Vec<_> = (0..20)
            .map(|i| {
                let name = if i % 2 == 0 {
                    StreamName::Stdout
                } else {
                    StreamName::Stderr
                };
                (name, format!("{i} "))
            })
            .collect();
        let merged = coalesce(input);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].0, StreamName::Stdout);
        assert_eq!(merged[0].1, "0 2 4 6 8 10 12 14 16 18 ");
        assert_eq!(merged[1].1, "1 3 5 7 9 11 13 15 17 19 ");
    }
}
