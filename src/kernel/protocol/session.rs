//! This kernel's messaging session: its id, its signer, and the headers of
//! the messages it sends.

use std::sync::Arc;

use bytes::Bytes;
use jupyter_protocol::Header;
use serde_json::{Value, json};

use super::wire::{self, Outgoing, Signer};

/// The Jupyter messaging protocol version this kernel speaks.
pub const PROTOCOL_VERSION: &str = "5.3";

/// Identity of this kernel's side of the conversation, shared by every socket.
#[derive(Clone)]
pub struct Session {
    id: Arc<str>,
    signer: Arc<Signer>,
}

impl Session {
    /// A new session with a random id, signing with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string().into(),
            signer: Arc::new(signer),
        }
    }

    /// The signer that verifies incoming messages.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// A fresh header for a message of `msg_type` from this kernel.
    pub fn header(&self, msg_type: &str) -> Header {
        Header {
            msg_id: uuid::Uuid::new_v4().to_string(),
            username: "crimpl-kernel".into(),
            session: self.id.to_string(),
            date: chrono::Utc::now(),
            msg_type: msg_type.into(),
            version: PROTOCOL_VERSION.into(),
        }
    }

    /// Signed frames for a message of `msg_type` with `content`, answering `parent`.
    pub fn frames(
        &self,
        identities: &[Bytes],
        msg_type: &str,
        parent: Option<&Header>,
        content: &Value,
    ) -> Vec<Bytes> {
        let header = self.header(msg_type);
        wire::encode(
            &Outgoing {
                identities,
                header: &header,
                parent,
                metadata: &json!({}),
                content,
            },
            &self.signer,
        )
    }
}
