//! The sending end of an in-process pipe to a socket's own thread, shared by
//! every task that sends on that socket (replies, iopub messages).

use std::sync::{Arc, Mutex};

/// Sends whole messages into the pipe; cheap to clone.
#[derive(Clone)]
pub struct PipeSender(Arc<Mutex<zmq::Socket>>);

impl PipeSender {
    /// The sending end `socket` of a pipe.
    pub fn new(socket: zmq::Socket) -> Self {
        Self(Arc::new(Mutex::new(socket)))
    }

    /// Queue one message (its frames) for the socket's thread. The pipe has
    /// no high-water mark, so this only fails while the kernel exits.
    pub fn send(&self, frames: &[impl AsRef<[u8]>]) -> zmq::Result<()> {
        let frames: Vec<&[u8]> = frames.iter().map(AsRef::as_ref).collect();
        // A poisoned lock still holds a usable socket: a panic cannot happen mid-send.
        let pipe = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pipe.send_multipart(frames, 0)
    }
}
