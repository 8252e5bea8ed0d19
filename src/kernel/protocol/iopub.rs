//! The iopub socket: an XPUB socket of libzmq on a thread of its own, fed by
//! [`Publisher`]s from any task or thread.
//!
//! libzmq's XPUB keeps one queue per subscriber (at most [`SUBSCRIBER_QUEUE`]
//! messages). Nothing is lost while every client reads: when a queue is full,
//! the message waits for room (output meanwhile waits in the bounded backlog).
//! A client whose queue stays full for [`STALL`] has stopped reading: from then
//! on, messages are sent to the clients with room and that client misses them,
//! until every queue has room again. So a stopped client holds the others up
//! once, for [`STALL`], and a slow one never loses a status message.
//!
//! Publishers hand signed frames to the thread through an in-process ZeroMQ
//! pipe, so the thread sleeps in one `poll` on both that pipe and the XPUB
//! socket. Each new subscription is greeted with `iopub_welcome` (JEP 65).
//! What waits in the pipe is bounded by [`super::iopub_backlog`].

use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jupyter_protocol::Header;
use serde_json::{Value, json};

use super::iopub_backlog::{self, Admission, Backlog};
use super::log::log;
use super::pipe::PipeSender;
use super::session::Session;
use super::sockets::Maker;

/// Messages queued for one subscriber. Stream output is coalesced into
/// messages of at most 64 KiB (the cells' stream batching), so a
/// stalled client costs at most about 7 MB, and a reading one frees room
/// after reading half of it.
pub const SUBSCRIBER_QUEUE: i32 = 100;

/// How long a message waits for room in a full queue before the client
/// behind it counts as stalled.
pub const STALL: Duration = Duration::from_secs(5);

/// How often a waiting message retries (libzmq's XPUB has no "room again" event).
const RETRY: Duration = Duration::from_millis(2);

/// Publishes on iopub; cheap to clone, usable from any task or thread.
#[derive(Clone)]
pub struct Publisher {
    pipe: PipeSender,
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
        if let Err(err) = self.pipe.send(&frames) {
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

/// Bind iopub at `endpoint` with `maker` and start the thread that serves it.
pub fn bind(maker: &Maker, endpoint: &str, session: &Session) -> anyhow::Result<Publisher> {
    let xpub = maker.bind(zmq::XPUB, "iopub", endpoint, |xpub| {
        // Report every subscription, not only the first for a topic: each client gets a welcome.
        xpub.set_xpub_verbose(true)?;
        xpub.set_sndhwm(SUBSCRIBER_QUEUE)
    })?;
    let (outbound, inbound) = maker.pipe()?;

    let backlog = Arc::new(Backlog::default());
    let publisher = Publisher {
        pipe: PipeSender::new(outbound),
        session: session.clone(),
        backlog: backlog.clone(),
    };
    let welcomer = publisher.clone();
    std::thread::Builder::new()
        .name("iopub".into())
        .spawn(move || serve(xpub, &inbound, &backlog, &welcomer))?;
    Ok(publisher)
}

/// Forward queued messages to the subscribers and welcome new ones, until the
/// kernel exits.
fn serve(xpub: zmq::Socket, inbound: &zmq::Socket, backlog: &Backlog, welcomer: &Publisher) {
    let mut xpub = Subscribers {
        socket: xpub,
        lossless: false,
        stalled: false,
    };
    loop {
        let mut items = [
            inbound.as_poll_item(zmq::POLLIN),
            xpub.socket.as_poll_item(zmq::POLLIN),
        ];
        if let Err(err) = zmq::poll(&mut items, -1) {
            log(&format!("iopub stopped: {err}"));
            return;
        }
        let (queued, subscribed) = (items[0].is_readable(), items[1].is_readable());
        if queued {
            while let Ok(frames) = inbound.recv_multipart(zmq::DONTWAIT) {
                let size = frames.iter().map(Vec::len).sum();
                xpub.send(&frames);
                backlog.sent(size);
            }
        }
        if subscribed {
            while let Ok(frame) = xpub.socket.recv_bytes(zmq::DONTWAIT) {
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

/// The XPUB socket and what is known of its clients' queues.
struct Subscribers {
    socket: zmq::Socket,
    /// Whether the socket is in libzmq's no-drop mode (refuses a send while a queue is full).
    lossless: bool,
    /// Whether a client has stopped reading (its queue stayed full for [`STALL`]).
    stalled: bool,
}

impl Subscribers {
    /// Send one message: to every client once all have room; if a queue stays
    /// full for [`STALL`] (or a client is known to be stalled), to the clients
    /// with room.
    fn send(&mut self, frames: &[Vec<u8>]) {
        let patience = if self.stalled { Duration::ZERO } else { STALL };
        let deadline = Instant::now() + patience;
        loop {
            match self.try_send(frames, true) {
                Ok(()) => {
                    if self.stalled {
                        log("every iopub client reads again");
                    }
                    self.stalled = false;
                    return;
                }
                Err(zmq::Error::EAGAIN) if Instant::now() < deadline => std::thread::sleep(RETRY),
                Err(zmq::Error::EAGAIN) => break,
                Err(err) => return log(&format!("iopub send failed: {err}")),
            }
        }
        if !self.stalled {
            log("an iopub client stopped reading: it misses messages until it reads again");
        }
        self.stalled = true;
        if let Err(err) = self.try_send(frames, false) {
            log(&format!("iopub send failed: {err}"));
        }
    }

    /// One non-blocking send; `lossless` refuses it (EAGAIN) while any queue is full.
    fn try_send(&mut self, frames: &[Vec<u8>], lossless: bool) -> Result<(), zmq::Error> {
        if self.lossless != lossless {
            set_no_drop(&mut self.socket, lossless)?;
            self.lossless = lossless;
        }
        let parts = frames.iter().map(Vec::as_slice);
        self.socket.send_multipart(parts, zmq::DONTWAIT)
    }
}

/// Set `ZMQ_XPUB_NODROP`, which the `zmq` crate has no setter for. libzmq
/// reads it at every send, so it may change between messages.
fn set_no_drop(socket: &mut zmq::Socket, on: bool) -> Result<(), zmq::Error> {
    let value = c_int::from(on);
    // SAFETY: the socket pointer is live (we hold the socket), and the option
    // value is a C int whose address and size are passed, as zmq_setsockopt
    // documents for ZMQ_XPUB_NODROP.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as c_int,
            (&value as *const c_int).cast::<c_void>(),
            std::mem::size_of::<c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: zmq_errno only reads the calling thread's errno.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    }
}
