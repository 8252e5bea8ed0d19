//! The five ZeroMQ sockets of a Jupyter kernel and the tasks that pump them.
//!
//! Each ROUTER socket (shell, control, stdin) gets a reader task that verifies
//! and decodes frames into [`Incoming`] messages on a channel, and a
//! [`Replier`] that signs and routes replies. iopub is served by libzmq on a
//! thread of its own (see [`super::iopub`]), so anything (a background job
//! watcher included) can publish through a cloned [`Publisher`], and a client
//! that stops reading holds up no other. The heartbeat echoes.

use bytes::Bytes;
use jupyter_protocol::{ConnectionInfo, Header, JupyterMessageContent};
use serde_json::Value;
use tokio::sync::mpsc;
use zeromq::{RepSocket, RouterSendHalf, RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

use super::iopub::{self, Publisher};
use super::log::log;
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

/// Signs and sends replies on one ROUTER socket.
#[derive(Clone)]
pub struct Replier {
    send: RouterSendHalf,
    session: Session,
}

impl Replier {
    /// Answer `request` with `reply` (its message type is the reply's own).
    pub async fn reply(&self, request: &Incoming, reply: &JupyterMessageContent) {
        self.send_to(
            &request.identities,
            reply.message_type(),
            Some(&request.header),
            &replies::content_of(reply),
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
    let publisher = iopub::bind(&connection.iopub_url(), session)?;
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
