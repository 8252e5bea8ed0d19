//! The iopub socket: an XPUB socket of libzmq on a thread of its own, fed by
//! [`Publisher`]s from any task or thread.
//!
//! libzmq's XPUB keeps one queue per subscriber and never blocks a send: a
//! client that stops reading fills its own queue (at most [`SUBSCRIBER_QUEUE`]
//! messages), after which messages for that client alone are dropped, as
//! ZeroMQ's PUB sockets do. The other clients go on receiving everything.
//! (The pure-Rust `zeromq` crate, used for the other sockets, sends to its
//! subscribers one after another, so one stalled client held up all of them.)
//!
//! Publishers hand signed frames to the thread through an in-process ZeroMQ
//! pipe, so the thread sleeps in one `poll` on both that pipe and the XPUB
//! socket. Each new subscription is greeted with `iopub_welcome` (JEP 65).
//! What waits in the pipe is bounded by [`super::iopub_backlog`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use jupyter_protocol::Header;
use serde_json::{Value, json};

use super::iopub_backlog::{self, Admission, Backlog};
use super::session::Session;
use super::sockets::log;

/// Messages queued for one subscriber before messages to it are dropped.
/// Stream output is coalesced into messages of at most 64 KiB
/// ([`super::stream_batcher::MAX_BYTES`]), so a stalled client costs at most
/// about 70 MB.
pub const SUBSCRIBER_QUEUE: i32 = 1000;

/// Publishes on iopub; cheap to clone, usable from any task or thread.
#[derive(Clone)]
pub struct Publisher {
    pipe: Arc<Mutex<zmq::Socket>>,
    session: Session,
    backlog: Arc<Backlog>,
}

impl Publisher {
    /// Publish a `msg_type` message with `content`, as a child of `parent`.
    /// Stream output past the backlog limit is dropped, and noted.
    pub fn publish(&self, msg_type: &str, content: Value, parent: Option<&Header>) {
        self.publish_on(
            Bytes::from(format!("kernel.{msg_type}")),
            msg_type,
            content,
            parent,
        );
    }

    /// Publish under the ZeroMQ `topic` (the subscription an `iopub_welcome` answers).
    fn publish_on(&self, topic: Bytes, msg_type: &str, content: Value, parent: Option<&Header>) {
        let frames = self.session.frames(&[topic], msg_type, parent, &content);
        let size = frames.iter().map(Bytes::len).sum();
        let Admission::Send { dropped_before } = self.backlog.admit(msg_type, size) else {
            return;
        };
        if dropped_before > 0 {
            let note =
                json!({ "name": "stderr", "text": iopub_backlog::dropped_note(dropped_before) });
            self.publish("stream", note, parent);
        }
        let frames: Vec<&[u8]> = frames.iter().map(|frame| frame.as_ref()).collect();
        // A poisoned lock still holds a usable socket: a panic cannot happen mid-send.
        let pipe = self
            .pipe
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The pipe has no high-water mark, so this only fails while the kernel exits.
        if let Err(err) = pipe.send_multipart(frames, 0) {
            self.backlog.sent(size);
            log(&format!("could not queue {msg_type} for iopub: {err}"));
        }
    }

    /// Publish `status` with `execution_state` (`busy`, `idle`, `starting`).
    pub fn status(&self, execution_state: &str, parent: Option<&Header>) {
        self.publish(
            "status",
            json!({ "execution_state": execution_state }),
            parent,
        );
    }
}

/// Bind iopub at `endpoint` and start the thread that serves it.
pub fn bind(endpoint: &str, session: &Session) -> anyhow::Result<Publisher> {
    let context = zmq::Context::new();
    let xpub = context.socket(zmq::XPUB)?;
    // Report every subscription, not only the first for a topic: each client gets a welcome.
    xpub.set_xpub_verbose(true)?;
    xpub.set_sndhwm(SUBSCRIBER_QUEUE)?;
    xpub.bind(endpoint)
        .map_err(|e| anyhow::anyhow!("cannot bind the iopub socket to {endpoint}: {e}"))?;

    static PIPES: AtomicUsize = AtomicUsize::new(0);
    let pipe_name = format!("inproc://iopub-{}", PIPES.fetch_add(1, Ordering::Relaxed));
    let inbound = context.socket(zmq::PULL)?;
    inbound.set_rcvhwm(0)?;
    inbound.bind(&pipe_name)?;
    let outbound = context.socket(zmq::PUSH)?;
    outbound.set_sndhwm(0)?;
    outbound.connect(&pipe_name)?;

    let backlog = Arc::new(Backlog::default());
    let publisher = Publisher {
        pipe: Arc::new(Mutex::new(outbound)),
        session: session.clone(),
        backlog: backlog.clone(),
    };
    let welcomer = publisher.clone();
    std::thread::Builder::new()
        .name("iopub".into())
        .spawn(move || serve(&xpub, &inbound, &backlog, &welcomer))?;
    Ok(publisher)
}

/// Forward queued messages to the subscribers and welcome new ones, until the
/// kernel exits.
fn serve(xpub: &zmq::Socket, inbound: &zmq::Socket, backlog: &Backlog, welcomer: &Publisher) {
    loop {
        let mut items = [
            inbound.as_poll_item(zmq::POLLIN),
            xpub.as_poll_item(zmq::POLLIN),
        ];
        if let Err(err) = zmq::poll(&mut items, -1) {
            log(&format!("iopub stopped: {err}"));
            return;
        }
        let (queued, subscribed) = (items[0].is_readable(), items[1].is_readable());
        if queued {
            while let Ok(frames) = inbound.recv_multipart(zmq::DONTWAIT) {
                let size = frames.iter().map(Vec::len).sum();
                // An XPUB send never blocks: a full subscriber queue drops for that subscriber.
                if let Err(err) = xpub.send_multipart(frames, zmq::DONTWAIT) {
                    log(&format!("iopub send failed: {err}"));
                }
                backlog.sent(size);
            }
        }
        if subscribed {
            while let Ok(frame) = xpub.recv_bytes(zmq::DONTWAIT) {
                // Subscribe frames are 0x01 + topic; unsubscribe frames 0x00 + topic.
                if let Some((1, topic)) = frame.split_first() {
                    // JEP 65: the welcome goes out on the topic subscribed to.
                    let subscription = String::from_utf8_lossy(topic).into_owned();
                    welcomer.publish_on(
                        Bytes::copy_from_slice(topic),
                        "iopub_welcome",
                        json!({ "subscription": subscription }),
                        None,
                    );
                }
            }
        }
    }
}
