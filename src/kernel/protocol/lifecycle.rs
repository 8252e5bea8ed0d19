//! What the shell channel may ask of the kernel besides cells, as ipykernel
//! allows: interrupt the running cell, and shut down.

use std::sync::{Arc, Mutex};

use jupyter_protocol::{JupyterMessageContent, ReplyStatus, ShutdownReply};
use serde_json::Value;
use tokio::sync::oneshot;

use super::handler::Interrupt;

/// How the kernel was asked to stop.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownRequested {
    /// Whether the frontend will start a new kernel.
    pub restart: bool,
}

/// Interrupts and shutdown requests from the shell channel; cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    interrupter: Arc<dyn Interrupt>,
    shutdown: Arc<Mutex<Option<oneshot::Sender<ShutdownRequested>>>>,
}

impl Lifecycle {
    /// A lifecycle interrupting through `interrupter`; the receiver learns of a shutdown request.
    pub fn new(interrupter: Arc<dyn Interrupt>) -> (Self, oneshot::Receiver<ShutdownRequested>) {
        let (tx, rx) = oneshot::channel();
        (
            Self {
                interrupter,
                shutdown: Arc::new(Mutex::new(Some(tx))),
            },
            rx,
        )
    }

    /// Stop what the running cell is doing.
    pub fn interrupt(&self) {
        self.interrupter.interrupt();
    }

    /// Ask the kernel to stop (the first request wins).
    pub fn shutdown(&self, restart: bool) {
        let sender = self.shutdown.lock().ok().and_then(|mut s| s.take());
        if let Some(sender) = sender {
            let _ = sender.send(ShutdownRequested { restart });
        }
    }
}

/// The content of a `shutdown_reply` to a request with `content` (sent on
/// the request's channel and, as the spec asks, on iopub).
pub fn shutdown_reply(content: &Value) -> (bool, JupyterMessageContent) {
    let restart = content
        .get("restart")
        .and_then(|r| r.as_bool())
        .unwrap_or(false);
    let reply = ShutdownReply {
        restart,
        status: ReplyStatus::Ok,
        error: None,
    };
    (restart, JupyterMessageContent::ShutdownReply(reply))
}
