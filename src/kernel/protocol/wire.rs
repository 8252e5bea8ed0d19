//! Signed multipart Jupyter messages <-> typed headers and JSON content.
//!
//! A Jupyter message on the wire is
//! `[identities..., "<IDS|MSG>", signature, header, parent_header, metadata, content, buffers...]`,
//! where `signature` is the hex HMAC-SHA256 of the four JSON parts with the
//! connection file's key. Nothing here panics on hostile input: every problem
//! is a [`WireError`] that the socket loops log before dropping the frames.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use jupyter_protocol::Header;
use serde_json::Value;
use sha2::Sha256;

/// The delimiter between ZeroMQ routing identities and the message proper.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";

/// Messages larger than this (all frames together) are refused unread.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Why a set of frames is not an acceptable message.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    /// No `<IDS|MSG>` frame.
    #[error("no <IDS|MSG> delimiter in {0} frames")]
    NoDelimiter(usize),
    /// Fewer than the five frames that must follow the delimiter.
    #[error(
        "expected signature, header, parent_header, metadata and content after the delimiter, got {0} frames"
    )]
    MissingParts(usize),
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// The signature does not match the key.
    #[error("invalid signature")]
    BadSignature,
    /// A JSON part does not parse or has the wrong shape.
    #[error("malformed {part}: {reason}")]
    BadJson {
        /// Which of header, parent_header, metadata, content.
        part: &'static str,
        /// serde's explanation.
        reason: String,
    },
}

/// HMAC-SHA256 signing with the connection file's key (an empty key disables signing, as in Jupyter).
#[derive(Clone)]
pub struct Signer {
    mac: Option<Hmac<Sha256>>,
}

impl Signer {
    /// A signer for `key` with `scheme` (only `hmac-sha256` is supported).
    pub fn new(key: &str, scheme: &str) -> anyhow::Result<Self> {
        if key.is_empty() {
            return Ok(Self { mac: None });
        }
        if scheme != "hmac-sha256" {
            anyhow::bail!(
                "unsupported signature_scheme {scheme:?} in the connection file: only hmac-sha256 is supported"
            );
        }
        let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())?;
        Ok(Self { mac: Some(mac) })
    }

    /// The hex signature of the given parts (empty when signing is disabled).
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        match &self.mac {
            None => String::new(),
            Some(mac) => {
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// Whether `signature` (hex) signs `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        match &self.mac {
            None => true,
            Some(mac) => {
                let Ok(expected) = hex::decode(signature) else {
                    return false;
                };
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                mac.verify_slice(&expected).is_ok()
            }
        }
    }
}

/// A verified incoming message: its header parsed, its content left as JSON
/// for the handler of its type to interpret.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// ZeroMQ routing identities, to address the reply.
    pub identities: Vec<Bytes>,
    /// The sender's header.
    pub header: Header,
    /// The header of the message this one answers, if any.
    pub parent_header: Option<Header>,
    /// Free-form metadata.
    pub metadata: Value,
    /// The message body, interpreted according to `header.msg_type`.
    pub content: Value,
    /// Extra binary buffers.
    pub buffers: Vec<Bytes>,
}

impl Incoming {
    /// The message type from the header.
    pub fn msg_type(&self) -> &str {
        &self.header.msg_type
    }
}

/// Split, verify and parse the frames of one message.
pub fn decode(frames: Vec<Bytes>, signer: &Signer) -> Result<Incoming, WireError> {
    let total: usize = frames.iter().map(Bytes::len).sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge(total));
    }
    let delimiter = frames
        .iter()
        .position(|frame| frame.as_ref() == DELIMITER)
        .ok_or(WireError::NoDelimiter(frames.len()))?;
    let mut frames = frames;
    let rest = frames.split_off(delimiter + 1);
    frames.pop(); // the delimiter
    let identities = frames;
    if rest.len() < 5 {
        return Err(WireError::MissingParts(rest.len()));
    }
    let mut rest = rest.into_iter();
    let mut next = || rest.next().unwrap_or_default();
    let (signature, header, parent, metadata, content) = (next(), next(), next(), next(), next());
    let buffers: Vec<Bytes> = rest.collect();
    if !signer.verify(&[&header, &parent, &metadata, &content], &signature) {
        return Err(WireError::BadSignature);
    }
    let header: Header = parse_json(&header, "header")?;
    let parent_value: Value = parse_json(&parent, "parent_header")?;
    let parent_header = match &parent_value {
        Value::Object(map) if map.is_empty() => None,
        Value::Null => None,
        _ => Some(
            serde_json::from_value(parent_value).map_err(|e| WireError::BadJson {
                part: "parent_header",
                reason: e.to_string(),
            })?,
        ),
    };
    Ok(Incoming {
        identities,
        header,
        parent_header,
        metadata: parse_json(&metadata, "metadata")?,
        content: parse_json(&content, "content")?,
        buffers,
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    part: &'static str,
) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError::BadJson {
        part,
        reason: e.to_string(),
    })
}

/// One outgoing message, before signing.
pub struct Outgoing<'a> {
    /// Routing identities (shell/control/stdin) or the topic (iopub).
    pub identities: &'a [Bytes],
    /// This message's header.
    pub header: &'a Header,
    /// The request it answers, if any.
    pub parent: Option<&'a Header>,
    /// Metadata (usually `{}`).
    pub metadata: &'a Value,
    /// The content.
    pub content: &'a Value,
}

/// Serialise and sign a message into frames.
pub fn encode(message: &Outgoing<'_>, signer: &Signer) -> Vec<Bytes> {
    let to_bytes = |value: &Value| Bytes::from(serde_json::to_vec(value).unwrap_or_default());
    let header = Bytes::from(serde_json::to_vec(message.header).unwrap_or_default());
    let parent = match message.parent {
        Some(parent) => Bytes::from(serde_json::to_vec(parent).unwrap_or_default()),
        None => Bytes::from_static(b"{}"),
    };
    let metadata = to_bytes(message.metadata);
    let content = to_bytes(message.content);
    let signature = signer.sign(&[&header, &parent, &metadata, &content]);
    let mut frames = message.identities.to_vec();
    frames.push(Bytes::from_static(DELIMITER));
    frames.push(Bytes::from(signature));
    frames.extend([header, parent, metadata, content]);
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header(msg_type: &str) -> Header {
        serde_json::from_value(json!({
            "msg_id": "1", "username": "u", "session": "s",
            "date": "2026-01-01T00:00:00Z", "msg_type": msg_type, "version": "5.3"
        }))
        .unwrap()
    }

    fn frames(signer: &Signer) -> Vec<Bytes> {
        encode(
            &Outgoing {
                identities: &[Bytes::from_static(b"peer")],
                header: &header("kernel_info_request"),
                parent: None,
                metadata: &json!({}),
                content: &json!({}),
            },
            signer,
        )
    }

    #[test]
    fn round_trip_keeps_identities_and_type() {
        let signer = Signer::new("secret", "hmac-sha256").unwrap();
        let message = decode(frames(&signer), &signer).unwrap();
        assert_eq!(message.identities, vec![Bytes::from_static(b"peer")]);
        assert_eq!(message.msg_type(), "kernel_info_request");
        assert!(message.parent_header.is_none());
    }

    #[test]
    fn wrong_key_is_rejected() {
        let signer = Signer::new("secret", "hmac-sha256").unwrap();
        let other = Signer::new("other", "hmac-sha256").unwrap();
        assert_eq!(
            decode(frames(&other), &signer).unwrap_err(),
            WireError::BadSignature
        );
    }

    #[test]
    fn tampered_content_is_rejected() {
        let signer = Signer::new("secret", "hmac-sha256").unwrap();
        let mut parts = frames(&signer);
        let last = parts.len() - 1;
        parts[last] = Bytes::from_static(b"{\"x\":1}");
        assert_eq!(decode(parts, &signer).unwrap_err(), WireError::BadSignature);
    }

    #[test]
    fn short_and_undelimited_messages_are_errors_not_panics() {
        let signer = Signer::new("secret", "hmac-sha256").unwrap();
        assert_eq!(
            decode(vec![], &signer).unwrap_err(),
            WireError::NoDelimiter(0)
        );
        let parts = vec![Bytes::from_static(DELIMITER), Bytes::from_static(b"sig")];
        assert_eq!(
            decode(parts, &signer).unwrap_err(),
            WireError::MissingParts(1)
        );
    }

    #[test]
    fn invalid_json_is_reported_with_its_part() {
        let signer = Signer::new("", "hmac-sha256").unwrap();
        let parts = ["<IDS|MSG>", "", "{not json", "{}", "{}", "{}"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert!(matches!(
            decode(parts, &signer).unwrap_err(),
            WireError::BadJson { part: "header", .. }
        ));
    }

    #[test]
    fn oversized_message_is_refused() {
        let signer = Signer::new("", "hmac-sha256").unwrap();
        let parts = vec![Bytes::from(vec![0u8; MAX_MESSAGE_BYTES + 1])];
        assert!(matches!(
            decode(parts, &signer).unwrap_err(),
            WireError::TooLarge(_)
        ));
    }

    #[test]
    fn unsupported_scheme_is_an_error() {
        assert!(Signer::new("k", "hmac-md5").is_err());
    }
}
