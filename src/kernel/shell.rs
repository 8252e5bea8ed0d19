//! The shell channel: requests handled one at a time, each between a `busy`
//! and an `idle` status, as Jupyter frontends expect.

use std::collections::VecDeque;
use std::sync::Arc;

use jupyter_protocol::{CompleteRequest, InspectRequest, IsCompleteRequest};
use serde_json::{Value, json};

use super::execute::Executor;
use super::history::HistoryQuery;
use super::iopub::Publisher;
use super::is_complete::{self, Completeness};
use super::kernel_info;
use super::lifecycle::{Lifecycle, shutdown_reply};
use super::output::CellError;
use super::panics;
use super::rust_cells::RustCells;
use super::sockets::{RouterChannel, log};
use super::text::{byte_offset, char_offset, line_at};
use super::usage;
use super::wire::Incoming;
use crate::magics::{Magics, is_magic_line};

/// Serves the shell socket.
pub struct Shell {
    channel: RouterChannel,
    publisher: Publisher,
    executor: Executor,
    magics: Arc<Magics>,
    rust: RustCells,
    lifecycle: Lifecycle,
    /// Requests taken off the socket while aborting, still to be served.
    pending: VecDeque<Incoming>,
}

impl Shell {
    /// A shell serving `channel`.
    pub fn new(
        channel: RouterChannel,
        publisher: Publisher,
        executor: Executor,
        magics: Arc<Magics>,
        rust: RustCells,
        lifecycle: Lifecycle,
    ) -> Self {
        Self {
            channel,
            publisher,
            executor,
            magics,
            rust,
            lifecycle,
            pending: VecDeque::new(),
        }
    }

    /// Serve requests until the socket closes.
    pub async fn serve(mut self) {
        loop {
            let request = match self.pending.pop_front() {
                Some(request) => request,
                None => match self.channel.incoming.recv().await {
                    Some(request) => request,
                    None => return,
                },
            };
            self.publisher.status("busy", Some(&request.header));
            let failed = match panics::contain(self.handle(&request)).await {
                Ok(failed) => failed,
                Err(panic) => self.internal_error(&request, &panic).await,
            };
            self.publisher.status("idle", Some(&request.header));
            if failed {
                self.abort_queued().await;
            }
        }
    }

    /// Answer a request whose handler panicked with an `error` reply (and,
    /// for a cell, an error in its output); returns whether it was a cell.
    async fn internal_error(&mut self, request: &Incoming, panic: &str) -> bool {
        let msg_type = request.msg_type();
        log(&format!("panic while handling {msg_type}: {panic}"));
        let message = panics::user_message(msg_type, panic);
        let mut reply = error_reply(panics::ENAME, &message);
        let is_cell = msg_type == "execute_request";
        if is_cell {
            self.executor.abandon_cell();
            let error = CellError::new(panics::ENAME, &message);
            self.publisher
                .publish("error", error.to_content(), Some(&request.header));
            reply["execution_count"] = json!(self.executor.execution_count());
        }
        let reply_type = msg_type.replace("_request", "_reply");
        self.channel
            .replier
            .reply(request, &reply_type, reply)
            .await;
        is_cell
    }

    /// Answer the execute requests already queued behind a failed cell with
    /// `aborted`, as ipykernel does; other requests are kept for later.
    async fn abort_queued(&mut self) {
        while let Ok(request) = self.channel.incoming.try_recv() {
            if request.msg_type() == "execute_request" {
                self.publisher.status("busy", Some(&request.header));
                let reply = self.executor.aborted_reply();
                self.channel
                    .replier
                    .reply(&request, "execute_reply", reply)
                    .await;
                self.publisher.status("idle", Some(&request.header));
            } else {
                self.pending.push_back(request);
            }
        }
    }

    /// Handle one request; returns whether it was a failed cell.
    async fn handle(&mut self, request: &Incoming) -> bool {
        panics::forced(request.msg_type());
        let reply_type = request.msg_type().replace("_request", "_reply");
        let reply = match request.msg_type() {
            "execute_request" => {
                let executed = self.executor.execute(request).await;
                self.channel
                    .replier
                    .reply(request, "execute_reply", executed.reply)
                    .await;
                return executed.failed;
            }
            "kernel_info_request" => kernel_info::reply(),
            "interrupt_request" => {
                self.lifecycle.interrupt();
                json!({ "status": "ok" })
            }
            "shutdown_request" => {
                let (restart, reply) = shutdown_reply(&request.content);
                self.channel
                    .replier
                    .reply(request, "shutdown_reply", reply.clone())
                    .await;
                self.publisher
                    .publish("shutdown_reply", reply, Some(&request.header));
                self.lifecycle.shutdown(restart);
                return false;
            }
            "usage_request" => usage::reply(),
            "complete_request" => self.complete(request).await,
            "inspect_request" => self.inspect(request).await,
            "is_complete_request" => is_complete(request),
            "history_request" => self.history(request),
            "comm_info_request" => json!({ "status": "ok", "comms": {} }),
            "comm_open" => {
                // No comm targets exist in this kernel: close it, as ipykernel does.
                let comm_id = request
                    .content
                    .get("comm_id")
                    .cloned()
                    .unwrap_or(Value::Null);
                self.publisher.publish(
                    "comm_close",
                    json!({ "comm_id": comm_id, "data": {} }),
                    Some(&request.header),
                );
                return false;
            }
            "comm_msg" | "comm_close" => return false,
            other if other.ends_with("_request") => {
                log(&format!("unknown message type {other:?} on shell"));
                error_reply(
                    "UnknownMessageType",
                    &format!("this kernel does not handle {other}"),
                )
            }
            other => {
                log(&format!("ignored message of type {other:?} on shell"));
                return false;
            }
        };
        self.channel
            .replier
            .reply(request, &reply_type, reply)
            .await;
        false
    }

    async fn complete(&self, request: &Incoming) -> Value {
        let Ok(content) = serde_json::from_value::<CompleteRequest>(request.content.clone()) else {
            return error_reply("BadRequest", "malformed complete_request content");
        };
        let code = &content.code;
        let cursor = byte_offset(code, content.cursor_pos);
        let (line_start, line) = line_at(code, cursor);
        let found = if is_magic_line(line) {
            let completion = self.magics.complete(line, cursor - line_start);
            Some((
                completion.matches,
                line_start + completion.start,
                line_start + completion.end,
            ))
        } else {
            self.rust
                .complete(code, cursor)
                .await
                .map(|c| (c.matches, c.start, c.end))
        };
        let (matches, start, end) = found.unwrap_or((Vec::new(), cursor, cursor));
        json!({
            "status": "ok",
            "matches": matches,
            "cursor_start": char_offset(code, start),
            "cursor_end": char_offset(code, end),
            "metadata": {},
        })
    }

    async fn inspect(&self, request: &Incoming) -> Value {
        let Ok(content) = serde_json::from_value::<InspectRequest>(request.content.clone()) else {
            return error_reply("BadRequest", "malformed inspect_request content");
        };
        let code = &content.code;
        let cursor = byte_offset(code, content.cursor_pos);
        let (_, line) = line_at(code, cursor);
        let text = if is_magic_line(line) {
            self.magics
                .inspect(line)
                .map(|help| json!({ "text/plain": help }))
        } else {
            self.rust.inspect(code, cursor).await.map(|hover| {
                let mut data = json!({ "text/plain": hover.text });
                if !hover.html.is_empty() {
                    data["text/html"] = json!(hover.html);
                }
                data
            })
        };
        match text {
            Some(data) => json!({ "status": "ok", "found": true, "data": data, "metadata": {} }),
            None => json!({ "status": "ok", "found": false, "data": {}, "metadata": {} }),
        }
    }

    fn history(&self, request: &Incoming) -> Value {
        let query = match serde_json::from_value::<HistoryQuery>(request.content.clone()) {
            Ok(query) => query,
            Err(err) => {
                return error_reply("BadRequest", &format!("malformed history_request: {err}"));
            }
        };
        match self.executor.history().query(&query) {
            Ok(history) => json!({ "status": "ok", "history": history }),
            Err(message) => error_reply("BadRequest", &message),
        }
    }
}

fn is_complete(request: &Incoming) -> Value {
    let Ok(content) = serde_json::from_value::<IsCompleteRequest>(request.content.clone()) else {
        return error_reply("BadRequest", "malformed is_complete_request content");
    };
    match is_complete::cell(&content.code) {
        Completeness::Complete => json!({ "status": "complete" }),
        Completeness::Invalid => json!({ "status": "invalid" }),
        Completeness::Incomplete(indent) => json!({ "status": "incomplete", "indent": indent }),
    }
}

/// The content of a reply with `status: error`.
pub fn error_reply(ename: &str, evalue: &str) -> Value {
    json!({ "status": "error", "ename": ename, "evalue": evalue, "traceback": [evalue] })
}
