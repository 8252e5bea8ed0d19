//! Reply contents as `jupyter-protocol`'s typed messages, and the two shapes
//! the crate has no type for: a failed request of any type, and a reply to a
//! message type the crate does not know (`usage_reply`).

use jupyter_protocol::{JupyterMessageContent, ReplyError, ReplyStatus, UnknownMessage};
use serde::Serialize;
use serde_json::Value;

/// The content of an `error` reply: the same for every request type.
#[derive(Serialize)]
struct ErrorReply {
    status: ReplyStatus,
    #[serde(flatten)]
    error: ReplyError,
}

/// The `<kind>_reply` answering a `<kind>_request` of `request_type`.
pub fn reply_type(request_type: &str) -> String {
    request_type.replace("_request", "_reply")
}

/// The error field of a typed reply: `ename: evalue`, with `evalue` as the traceback.
pub fn error(ename: &str, evalue: &str) -> Box<ReplyError> {
    Box::new(ReplyError {
        ename: ename.to_string(),
        evalue: evalue.to_string(),
        traceback: vec![evalue.to_string()],
    })
}

/// A reply with `status: error` to a request of `request_type`.
pub fn failed(request_type: &str, ename: &str, evalue: &str) -> JupyterMessageContent {
    let content = ErrorReply {
        status: ReplyStatus::Error,
        error: *error(ename, evalue),
    };
    untyped(
        &reply_type(request_type),
        serde_json::to_value(content).unwrap_or_default(),
    )
}

/// A reply of a `msg_type` that `jupyter-protocol` has no type for.
pub fn untyped(msg_type: &str, content: Value) -> JupyterMessageContent {
    JupyterMessageContent::UnknownMessage(UnknownMessage {
        msg_type: msg_type.to_string(),
        content,
    })
}

/// The JSON content of a typed message.
pub fn content_of(message: &JupyterMessageContent) -> Value {
    // Serializing these structs (strings, numbers, maps with string keys) cannot fail.
    serde_json::to_value(message).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_reply_has_the_spec_error_fields_and_the_reply_type() {
        let reply = failed("complete_request", "BadRequest", "malformed");
        assert_eq!(reply.message_type(), "complete_reply");
        assert_eq!(
            content_of(&reply),
            json!({"status": "error", "ename": "BadRequest", "evalue": "malformed", "traceback": ["malformed"]})
        );
    }

    #[test]
    fn an_untyped_reply_keeps_its_type_and_content() {
        let reply = untyped("usage_reply", json!({"pid": 7}));
        assert_eq!(reply.message_type(), "usage_reply");
        assert_eq!(content_of(&reply), json!({"pid": 7}));
    }
}
