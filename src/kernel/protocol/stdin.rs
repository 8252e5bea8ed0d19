//! Asking the frontend for a line of input: `input_request` on the stdin
//! channel, addressed to the client that sent the running `execute_request`,
//! answered by its `input_reply`.

use std::sync::Arc;

use bytes::Bytes;
use jupyter_protocol::Header;
use serde_json::json;
use tokio::runtime::Handle;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::log::log;
use super::sockets::{Replier, RouterChannel};
use super::wire::Incoming;

/// The kernel's stdin socket; cheap to clone.
#[derive(Clone)]
pub struct StdinChannel {
    replier: Replier,
    replies: Arc<Mutex<mpsc::UnboundedReceiver<Incoming>>>,
}

impl StdinChannel {
    /// Serve `channel` (the bound stdin socket).
    pub fn new(channel: RouterChannel) -> Self {
        Self {
            replier: channel.replier,
            replies: Arc::new(Mutex::new(channel.incoming)),
        }
    }
}

/// Why no input could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The frontend said it cannot answer (`allow_stdin: false`).
    #[error(
        "this cell reads standard input, but the frontend that ran it does not accept input \
         (allow_stdin is false): run it from JupyterLab or jupyter console, or give the value in the code"
    )]
    NotAllowed,
    /// The cell was interrupted while waiting.
    #[error("interrupted while waiting for input")]
    Interrupted,
    /// The stdin channel closed.
    #[error("the stdin channel closed while waiting for input")]
    Closed,
}

/// Where the running cell reads input from: the client that sent it.
#[derive(Clone)]
pub struct InputSource {
    stdin: StdinChannel,
    identities: Vec<Bytes>,
    parent: Header,
    allowed: bool,
    cancel: CancellationToken,
    runtime: Handle,
}

impl InputSource {
    /// Input for the cell `request` (with `identities`), if `allowed`, until `cancel` fires.
    /// Must be made inside the kernel's runtime.
    pub fn new(
        stdin: StdinChannel,
        request: &Incoming,
        allowed: bool,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            stdin,
            identities: request.identities.clone(),
            parent: request.header.clone(),
            allowed,
            cancel,
            runtime: Handle::current(),
        }
    }

    /// The same source, whose requests also end when the returned token is cancelled.
    pub fn stoppable(&self) -> (Self, CancellationToken) {
        let token = self.cancel.child_token();
        let mut source = self.clone();
        source.cancel = token.clone();
        (source, token)
    }

    /// Ask for one line (without its newline), showing `prompt`; blocks the
    /// calling thread, which must not be one of the runtime's.
    pub fn read_line(&self, prompt: &str, password: bool) -> Result<String, InputError> {
        if !self.allowed {
            return Err(InputError::NotAllowed);
        }
        self.runtime.block_on(self.ask(prompt, password))
    }

    async fn ask(&self, prompt: &str, password: bool) -> Result<String, InputError> {
        let mut replies = self.stdin.replies.lock().await;
        // Answers to an earlier, interrupted request are stale.
        while replies.try_recv().is_ok() {}
        self.stdin.replier.send_to(
            &self.identities,
            "input_request",
            Some(&self.parent),
            &json!({ "prompt": prompt, "password": password }),
        );
        loop {
            let message = tokio::select! {
                _ = self.cancel.cancelled() => return Err(InputError::Interrupted),
                message = replies.recv() => message.ok_or(InputError::Closed)?,
            };
            if message.msg_type() == "input_reply" {
                let value = message.content.get("value").and_then(|v| v.as_str());
                return Ok(value.unwrap_or_default().to_string());
            }
            log(&format!(
                "ignored unsolicited {} on stdin",
                message.msg_type()
            ));
        }
    }
}

impl crate::magics::CellInput for InputSource {
    fn allowed(&self) -> bool {
        self.allowed
    }

    fn read_line(&self, prompt: &str, password: bool) -> Result<String, String> {
        InputSource::read_line(self, prompt, password).map_err(|err| err.to_string())
    }
}
