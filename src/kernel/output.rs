//! Everything one cell shows: streams, displays, results and errors,
//! published on iopub as children of the cell's `execute_request`.

use jupyter_protocol::Header;
use serde_json::{Map, Value, json};

use super::sockets::Publisher;
use crate::magics::{CellOutput, StreamName, View};

/// The output area of one cell. Clones publish into the same cell, so a
/// background watcher can keep updating a display after the cell finished.
#[derive(Clone)]
pub struct CellSink {
    publisher: Publisher,
    parent: Header,
}

impl CellSink {
    /// Outputs of the request with header `parent`.
    pub fn new(publisher: Publisher, parent: Header) -> Self {
        Self { publisher, parent }
    }

    /// Publish `text` on the `stdout` or `stderr` stream.
    pub fn stream(&self, name: StreamName, text: &str) {
        if text.is_empty() {
            return;
        }
        let name = match name {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        };
        self.publish("stream", json!({ "name": name, "text": text }));
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
        self.publisher
            .publish(msg_type, content, Some(&self.parent));
    }
}

impl CellOutput for CellSink {
    fn stream(&self, name: StreamName, text: &str) {
        CellSink::stream(self, name, text);
    }

    fn display(&self, view: &View, display_id: Option<&str>) {
        self.display_bundle(view.to_bundle(), display_id);
    }

    fn update_display(&self, view: &View, display_id: &str) {
        self.publish(
            "update_display_data",
            json!({ "data": view.to_bundle(), "metadata": {}, "transient": { "display_id": display_id } }),
        );
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
}
