//! Display updates that reach every frontend, including those that keep only
//! the messages of the cell now running.
//!
//! An `update_display_data` answering the request that made the display is
//! what a live frontend expects; but nbclient and papermill keep only messages
//! whose parent is the cell they are running, and a notebook saved from them
//! would keep a display's first state. So an update is published under the
//! display's own cell and, when another cell is running, under that cell too
//! (both apply it by display id to every output that carries it). An update
//! made while no cell runs waits, latest only, for the next cell to start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jupyter_protocol::Header;
use serde_json::Value;

use crate::kernel::protocol::iopub::Publisher;

/// The kernel's running cell and the display updates waiting for one; cheap to clone.
#[derive(Clone, Default)]
pub struct Displays {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// The header of the `execute_request` now running.
    running: Option<Header>,
    /// Updates made while no cell ran: display id -> (order, content).
    waiting: HashMap<String, (u64, Value)>,
    next: u64,
}

impl Displays {
    /// A cell with header `cell` starts: it carries the updates that waited.
    pub fn begin_cell(&self, publisher: &Publisher, cell: &Header) {
        let mut inner = self.lock();
        inner.running = Some(cell.clone());
        let mut waiting: Vec<(u64, Value)> = inner.waiting.drain().map(|(_, v)| v).collect();
        waiting.sort_by_key(|(order, _)| *order);
        for (_, content) in waiting {
            publisher.publish("update_display_data", content, Some(cell));
        }
    }

    /// The running cell has ended.
    pub fn end_cell(&self) {
        self.lock().running = None;
    }

    /// Publish an `update_display_data` with `content` (which names the
    /// display id in `transient`) for a display made by the cell `origin`.
    pub fn update(&self, publisher: &Publisher, origin: &Header, display_id: &str, content: Value) {
        let mut inner = self.lock();
        publisher.publish("update_display_data", content.clone(), Some(origin));
        match inner.running.clone() {
            Some(running) if running.msg_id != origin.msg_id => {
                publisher.publish("update_display_data", content, Some(&running));
            }
            Some(_) => {}
            None => {
                let order = inner.next;
                inner.next += 1;
                inner
                    .waiting
                    .insert(display_id.to_string(), (order, content));
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
