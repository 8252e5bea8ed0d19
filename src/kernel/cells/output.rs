//! Everything one cell shows: streams, displays, results and errors,
//! published on iopub as children of the cell's `execute_request`.

use std::sync::Arc;

use jupyter_protocol::{Header, ReplyError};
use serde_json::{Map, Value, json};

use super::displays::Displays;
use super::stream_batcher::StreamBatcher;
use crate::kernel::protocol::iopub::Publisher;
use crate::magics::{CellOutput, StreamName};

/// The output area of one cell. Clones publish into the same cell, so a
/// background watcher can keep updating a display after the cell finished.
/// Stream text is batched ([`StreamBatcher`]) and sent before anything else
/// the cell shows, so the order of outputs is kept.
#[derive(Clone)]
pub struct CellSink {
    publisher: Publisher,
    parent: Header,
    streams: Arc<StreamBatcher>,
    displays: Displays,
}

impl CellSink {
    /// Outputs of the request with header `parent`; display updates go
    /// through `displays`, which also knows the cell now running.
    pub fn new(publisher: Publisher, parent: Header, displays: Displays) -> Self {
        Self {
            streams: StreamBatcher::new(publisher.clone(), parent.clone()),
            publisher,
            parent,
            displays,
        }
    }

    /// Add `text` to the `stdout` or `stderr` stream (sent within a few tens of milliseconds).
    pub fn stream(&self, name: StreamName, text: &str) {
        self.streams.push(name, text);
    }

    /// Send the stream text gathered so far.
    pub fn flush(&self) {
        self.streams.flush();
    }

    /// Publish a mime bundle as `display_data`, optionally under a display id.
    pub fn display_bundle(&self, data: Map<String, Value>, display_id: Option<&str>) {
        let mut content = json!({ "data": data, "metadata": {} });
        if let Some(id) = display_id {
            content["transient"] = json!({ "display_id": id });
        }
        self.publish("display_data", content);
    }

    /// Publish the cell's `execute_result`.
    pub fn execute_result(&self, execution_count: usize, data: Map<String, Value>) {
        self.publish(
            "execute_result",
            json!({ "execution_count": execution_count, "data": data, "metadata": {} }),
        );
    }

    /// Publish an `error` output.
    pub fn error(&self, error: &CellError) {
        self.publish("error", error.to_content());
    }

    fn publish(&self, msg_type: &str, content: Value) {
        self.streams.flush();
        self.publisher
            .publish(msg_type, content, Some(&self.parent));
    }
}

impl CellOutput for CellSink {
    fn stream(&self, name: StreamName, text: &str) {
        CellSink::stream(self, name, text);
    }

    fn display_data(&self, data: Map<String, Value>, display_id: Option<&str>) {
        self.display_bundle(data, display_id);
    }

    fn update_data(&self, data: Map<String, Value>, display_id: &str) {
        self.streams.flush();
        let content =
            json!({ "data": data, "metadata": {}, "transient": { "display_id": display_id } });
        self.displays
            .update(&self.publisher, &self.parent, display_id, content);
    }
}

/// An error to show in a cell and return in the `execute_reply`.
#[derive(Debug, Clone)]
pub struct CellError {
    /// The error's name (`CompilationError`, `CrimplError`, ...).
    pub ename: String,
    /// A one-line description.
    pub evalue: String,
    /// Lines shown to the user.
    pub traceback: Vec<String>,
}

impl CellError {
    /// An error whose whole message is one text.
    pub fn new(ename: &str, message: &str) -> Self {
        Self {
            ename: ename.into(),
            evalue: message.lines().next().unwrap_or_default().into(),
            traceback: vec![message.into()],
        }
    }

    /// The `error` content (also the error fields of an `execute_reply`).
    pub fn to_content(&self) -> Value {
        json!({ "ename": self.ename, "evalue": self.evalue, "traceback": self.traceback })
    }

    /// The error fields of a typed reply.
    pub fn to_reply_error(&self) -> ReplyError {
        ReplyError {
            ename: self.ename.clone(),
            evalue: self.evalue.clone(),
            traceback: self.traceback.clone(),
        }
    }
}
