//! The five ZeroMQ sockets of a Jupyter kernel, all libzmq's, each served
//! on a thread of its own (libzmq's sockets block; the kernel's tasks never
//! wait on one).
//!
//! Each ROUTER socket (shell, control, stdin) has a thread that verifies and
//! decodes requests into [`Incoming`] messages on a channel, and sends the
//! replies a [`Replier`] (any task's) signed and queued in an in-process
//! pipe, so the thread sleeps in one `poll` on both. iopub has its own
//! thread too (see [`super::iopub`]). The heartbeat echoes: libzmq's proxy
//! from a ROUTER to itself, as ipykernel's. With CurveZMQ keys in the
//! connection file, every socket is a CURVE server ([`super::curve`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use jupyter_protocol::{ConnectionInfo, Header, JupyterMessageContent};
use serde_json::Value;
use tokio::sync::mpsc;

use super::curve::Curve;
use super::iopub::{self, Publisher};
use super::log::log;
use super::pipe::PipeSender;
use super::replies;
use super::session::Session;
use super::wire::{self, Incoming};

/// Messages arriving on one ROUTER socket, and the way to answer them.
pub struct RouterChannel {
    /// Verified, decoded requests in arrival order.
    pub incoming: mpsc::UnboundedReceiver<Incoming>,
    /// Sends replies back to the requesting peer.
    pub replier: Replier,
}

/// Signs replies and queues them for one ROUTER socket's thread; cheap to
/// clone, usable from any task or thread.
#[derive(Clone)]
pub struct Replier {
    pipe: PipeSender,
    session: Session,
}

impl Replier {
    /// Answer `request` with `reply` (its message type is the reply's own).
    pub fn reply(&self, request: &Incoming, reply: &JupyterMessageContent) {
        self.send_to(
            &request.identities,
            reply.message_type(),
            Some(&request.header),
            &replies::content_of(reply),
        );
    }

    /// Send a message to the peer with `identities` (used for `input_request` on stdin).
    pub fn send_to(
        &self,
        identities: &[Bytes],
        msg_type: &str,
        parent: Option<&Header>,
        content: &Value,
    ) {
        let frames = self.session.frames(identities, msg_type, parent, content);
        if let Err(err) = self.pipe.send(&frames) {
            log(&format!("could not send {msg_type}: {err}"));
        }
    }
}

/// All sockets of a running kernel, bound and pumped.
pub struct Sockets {
    /// Requests on the shell socket.
    pub shell: RouterChannel,
    /// Requests on the control socket.
    pub control: RouterChannel,
    /// Replies from the frontend on the stdin socket.
    pub stdin: RouterChannel,
    /// The iopub publisher.
    pub publisher: Publisher,
}

/// Bind every socket named in `connection` (as CURVE servers with `curve`'s
/// keys, if given) and start the threads that serve them.
pub fn bind(
    connection: &ConnectionInfo,
    curve: Option<Curve>,
    session: &Session,
) -> anyhow::Result<Sockets> {
    let maker = Maker {
        context: zmq::Context::new(),
        curve,
    };
    let shell = router(&maker, &connection.shell_url(), "shell", session)?;
    let control = router(&maker, &connection.control_url(), "control", session)?;
    let stdin = router(&maker, &connection.stdin_url(), "stdin", session)?;
    let publisher = iopub::bind(&maker, &connection.iopub_url(), session)?;
    heartbeat(&maker, &connection.hb_url())?;
    Ok(Sockets {
        shell,
        control,
        stdin,
        publisher,
    })
}

/// Makes the kernel's sockets: one libzmq context, and CURVE servers when
/// the connection file has keys.
pub struct Maker {
    context: zmq::Context,
    curve: Option<Curve>,
}

impl Maker {
    /// A socket of `kind` for the `name` channel, set up by `configure`, bound at `endpoint`.
    pub fn bind(
        &self,
        kind: zmq::SocketType,
        name: &str,
        endpoint: &str,
        configure: impl FnOnce(&zmq::Socket) -> zmq::Result<()>,
    ) -> anyhow::Result<zmq::Socket> {
        let socket = self.context.socket(kind)?;
        configure(&socket)?;
        if let Some(curve) = &self.curve {
            curve.serve_on(&socket)?;
        }
        socket
            .bind(endpoint)
            .map_err(|e| anyhow::anyhow!("cannot bind the {name} socket to {endpoint}: {e}"))?;
        Ok(socket)
    }

    /// An in-process pipe without high-water marks, from any thread to one
    /// socket's thread: its sending and receiving ends.
    pub fn pipe(&self) -> anyhow::Result<(zmq::Socket, zmq::Socket)> {
        static PIPES: AtomicUsize = AtomicUsize::new(0);
        let name = format!("inproc://pipe-{}", PIPES.fetch_add(1, Ordering::Relaxed));
        let inbound = self.context.socket(zmq::PULL)?;
        inbound.set_rcvhwm(0)?;
        inbound.bind(&name)?;
        let outbound = self.context.socket(zmq::PUSH)?;
        outbound.set_sndhwm(0)?;
        outbound.connect(&name)?;
        Ok((outbound, inbound))
    }
}

fn router(
    maker: &Maker,
    endpoint: &str,
    name: &'static str,
    session: &Session,
) -> anyhow::Result<RouterChannel> {
    let socket = maker.bind(zmq::ROUTER, name, endpoint, |_| Ok(()))?;
    let (outbound, inbound) = maker.pipe()?;
    let (tx, incoming) = mpsc::unbounded_channel();
    let reader_session = session.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || serve_router(name, &socket, &inbound, &tx, &reader_session))?;
    Ok(RouterChannel {
        incoming,
        replier: Replier {
            pipe: PipeSender::new(outbound),
            session: session.clone(),
        },
    })
}

/// Pass requests from `socket` to `tx` and replies from `replies` to their
/// peers, until the kernel exits (or nothing reads the requests any more).
fn serve_router(
    name: &str,
    socket: &zmq::Socket,
    replies: &zmq::Socket,
    tx: &mpsc::UnboundedSender<Incoming>,
    session: &Session,
) {
    loop {
        let mut items = [
            socket.as_poll_item(zmq::POLLIN),
            replies.as_poll_item(zmq::POLLIN),
        ];
        if let Err(err) = zmq::poll(&mut items, -1) {
            log(&format!("{name} socket stopped: {err}"));
            return;
        }
        let (requested, replied) = (items[0].is_readable(), items[1].is_readable());
        if requested {
            while let Ok(frames) = socket.recv_multipart(zmq::DONTWAIT) {
                let frames = frames.into_iter().map(Bytes::from).collect();
                match wire::decode(frames, session.signer()) {
                    Ok(message) => {
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                    Err(err) => log(&format!("dropped a message on {name}: {err}")),
                }
            }
        }
        if replied {
            while let Ok(frames) = replies.recv_multipart(zmq::DONTWAIT) {
                // A ROUTER drops what it cannot route (a peer gone); it never blocks.
                if let Err(err) = socket.send_multipart(frames, 0) {
                    log(&format!("could not send on {name}: {err}"));
                }
            }
        }
    }
}

fn heartbeat(maker: &Maker, endpoint: &str) -> anyhow::Result<()> {
    let socket = maker.bind(zmq::ROUTER, "heartbeat", endpoint, |_| Ok(()))?;
    std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            // Each ping goes back to its sender: the ROUTER routes by the identity it added.
            if let Err(err) = zmq::proxy(&socket, &socket) {
                log(&format!("heartbeat stopped: {err}"));
            }
        })?;
    Ok(())
}
