//! The five ZeroMQ sockets of a Jupyter kernel and the tasks that pump them.
//!
//! Each ROUTER socket (shell, control, stdin) gets a reader task that verifies
//! and decodes frames into [`Incoming`] messages on a channel, and a
//! [`Replier`] that signs and routes replies. iopub is an XPUB socket fed by a
//! channel, so anything (a background job watcher included) can publish
//! through a cloned [`Publisher`]; it greets each new subscriber with
//! `iopub_welcome` (JEP 65). What waits for iopub is bounded (see
//! [`super::iopub_backlog`]): a client that stops reading makes stream
//! output drop, never the kernel's memory grow. (zeromq 0.7's XPUB sends to
//! subscribers one after another, so such a client still holds up the others
//! until it reads again; giving up a send would lose messages for them.)
//! The heartbeat echoes.

use bytes::Bytes;
use jupyter_protocol::{ConnectionInfo, Header};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use zeromq::{
    RepSocket, RouterSendHalf, RouterSocket, Socket, SocketRecv, SocketSend, XPubSocket, ZmqMessage,
};

use std::sync::Arc;

use super::iopub_backlog::{self, Admission, Backlog};
use super::session::Session;
use super::wire::{self, Incoming};

/// Messages arriving on one ROUTER socket, and the way to answer them.
pub struct RouterChannel {
    /// Verified, decoded requests in arrival order.
    pub incoming: mpsc::UnboundedReceiver<Incoming>,
    /// Sends replies back to the requesting peer.
    pub replier: Replier,
}

/// Signs and sends replies on one ROUTER socket.
#[derive(Clone)]
pub struct Replier {
    send: RouterSendHalf,
    session: Session,
}

impl Replier {
    /// Answer `request` with a `msg_type` message carrying `content`.
    pub async fn reply(&self, request: &Incoming, msg_type: &str, content: Value) {
        self.send_to(
            &request.identities,
            msg_type,
            Some(&request.header),
            &content,
        )
        .await;
    }

    /// Send a message to the peer with `identities` (used for `input_request` on stdin).
    pub async fn send_to(
        &self,
        identities: &[Bytes],
        msg_type: &str,
        parent: Option<&Header>,
        content: &Value,
    ) {
        let frames = self.session.frames(identities, msg_type, parent, content);
        let Ok(message) = ZmqMessage::try_from(frames) else {
            return;
        };
        if let Err(err) = self.send.clone().send(message).await {
            log(&format!("could not send {msg_type}: {err}"));
        }
    }
}

/// Publishes on iopub; cheap to clone, usable from any task or thread.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<(Vec<Bytes>, usize)>,
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
        // The receiver only goes away when the kernel is exiting.
        let _ = self.tx.send((frames, size));
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

/// Bind every socket named in `connection` and start the tasks that serve them.
pub async fn bind(connection: &ConnectionInfo, session: &Session) -> anyhow::Result<Sockets> {
    let shell = router(&connection.shell_url(), "shell", session).await?;
    let control = router(&connection.control_url(), "control", session).await?;
    let stdin = router(&connection.stdin_url(), "stdin", session).await?;
    let publisher = iopub(&connection.iopub_url(), session).await?;
    heartbeat(&connection.hb_url()).await?;
    Ok(Sockets {
        shell,
        control,
        stdin,
        publisher,
    })
}

async fn router(
    endpoint: &str,
    name: &'static str,
    session: &Session,
) -> anyhow::Result<RouterChannel> {
    let mut socket = RouterSocket::new();
    socket
        .bind(endpoint)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the {name} socket to {endpoint}: {e}"))?;
    let (send, mut recv) = socket.split();
    let (tx, incoming) = mpsc::unbounded_channel();
    let reader_session = session.clone();
    tokio::spawn(async move {
        loop {
            let frames = match recv.recv().await {
                Ok(message) => message.into_vec(),
                Err(err) => {
                    log(&format!("{name} socket closed: {err}"));
                    return;
                }
            };
            match wire::decode(frames, reader_session.signer()) {
                Ok(message) => {
                    if tx.send(message).is_err() {
                        return;
                    }
                }
                Err(err) => log(&format!("dropped a message on {name}: {err}")),
            }
        }
    });
    Ok(RouterChannel {
        incoming,
        replier: Replier {
            send,
            session: session.clone(),
        },
    })
}

async fn iopub(endpoint: &str, session: &Session) -> anyhow::Result<Publisher> {
    let mut socket = XPubSocket::new();
    socket
        .bind(endpoint)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the iopub socket to {endpoint}: {e}"))?;
    let (tx, mut outgoing) = mpsc::unbounded_channel::<(Vec<Bytes>, usize)>();
    let backlog = Arc::new(Backlog::default());
    let publisher = Publisher {
        tx,
        session: session.clone(),
        backlog: backlog.clone(),
    };
    let welcomer = publisher.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                frames = outgoing.recv() => {
                    let Some((frames, size)) = frames else { return };
                    if let Ok(message) = ZmqMessage::try_from(frames)
                        && let Err(err) = socket.send(message).await {
                            log(&format!("iopub send failed: {err}"));
                        }
                    backlog.sent(size);
                }
                subscription = socket.recv() => {
                    // XPUB hands us subscribe (0x01 + topic) and unsubscribe (0x00 + topic) frames.
                    if let Ok(message) = subscription
                        && let Some(frame) = message.get(0)
                            && frame.first() == Some(&1) {
                                // JEP 65: the welcome goes out on the topic subscribed to.
                                let topic = frame.slice(1..);
                                let subscription = String::from_utf8_lossy(&topic).into_owned();
                                welcomer.publish_on(topic, "iopub_welcome", json!({ "subscription": subscription }), None);
                            }
                }
            }
        }
    });
    Ok(publisher)
}

async fn heartbeat(endpoint: &str) -> anyhow::Result<()> {
    let mut socket = RepSocket::new();
    socket
        .bind(endpoint)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the heartbeat socket to {endpoint}: {e}"))?;
    tokio::spawn(async move {
        while let Ok(ping) = socket.recv().await {
            if socket.send(ping).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Log a line to the kernel's stderr (Jupyter shows it in the server log).
pub fn log(line: &str) {
    eprintln!("[crimpl-kernel] {line}");
}
