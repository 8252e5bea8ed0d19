//! The shell channel: requests handled one at a time, each between a `busy`
//! and an `idle` status, as Jupyter frontends expect.

use std::collections::VecDeque;
use std::sync::Arc;

use jupyter_protocol::{
    CommInfoReply, CompleteReply, CompleteRequest, HistoryReply, InspectReply, InspectRequest,
    InterruptReply, IsCompleteReply, IsCompleteRequest, JupyterMessageContent, Media, MediaType,
};
use serde_json::{Value, json};

use super::execute::Executor;
use super::history::HistoryQuery;
use super::iopub::Publisher;
use super::is_complete::{self, Completeness};
use super::kernel_info;
use super::lifecycle::{Lifecycle, shutdown_reply};
use super::log::log;
use super::output::CellError;
use super::panics;
use super::replies;
use super::rust_cells::RustCells;
use super::sockets::RouterChannel;
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
        let is_cell = msg_type == "execute_request";
        let reply = if is_cell {
            self.executor.abandon_cell();
            let error = CellError::new(panics::ENAME, &message);
            self.publisher
                .publish("error", error.to_content(), Some(&request.header));
            JupyterMessageContent::ExecuteReply(self.executor.failed_reply(&error))
        } else {
            replies::failed(msg_type, panics::ENAME, &message)
        };
        self.channel.replier.reply(request, &reply).await;
        is_cell
    }

    /// Answer the execute requests already queued behind a failed cell with
    /// `aborted`, as ipykernel does; other requests are kept for later.
    async fn abort_queued(&mut self) {
        while let Ok(request) = self.channel.incoming.try_recv() {
            if request.msg_type() == "execute_request" {
                self.publisher.status("busy", Some(&request.header));
                let reply = JupyterMessageContent::ExecuteReply(self.executor.aborted_reply());
                self.channel.replier.reply(&request, &reply).await;
                self.publisher.status("idle", Some(&request.header));
            } else {
                self.pending.push_back(request);
            }
        }
    }

    /// Handle one request; returns whether it was a failed cell.
    async fn handle(&mut self, request: &Incoming) -> bool {
        panics::forced(request.msg_type());
        let reply = match request.msg_type() {
            "execute_request" => {
                let executed = self.executor.execute(request).await;
                let reply = JupyterMessageContent::ExecuteReply(executed.reply);
                self.channel.replier.reply(request, &reply).await;
                return executed.failed;
            }
            "kernel_info_request" => kernel_info::reply(),
            "interrupt_request" => {
                self.lifecycle.interrupt();
                JupyterMessageContent::InterruptReply(InterruptReply::new())
            }
            "shutdown_request" => {
                let (restart, reply) = shutdown_reply(&request.content);
                self.channel.replier.reply(request, &reply).await;
                self.publisher.publish(
                    "shutdown_reply",
                    replies::content_of(&reply),
                    Some(&request.header),
                );
                self.lifecycle.shutdown(restart);
                return false;
            }
            "usage_request" => replies::untyped("usage_reply", usage::reply()),
            "complete_request" => self.complete(request).await,
            "inspect_request" => self.inspect(request).await,
            "is_complete_request" => is_complete(request),
            "history_request" => self.history(request),
            "comm_info_request" => JupyterMessageContent::CommInfoReply(CommInfoReply::default()),
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
                replies::failed(
                    other,
                    "UnknownMessageType",
                    &format!("this kernel does not handle {other}"),
                )
            }
            other => {
                log(&format!("ignored message of type {other:?} on shell"));
                return false;
            }
        };
        self.channel.replier.reply(request, &reply).await;
        false
    }

    async fn complete(&self, request: &Incoming) -> JupyterMessageContent {
        let Ok(content) = serde_json::from_value::<CompleteRequest>(request.content.clone()) else {
            return bad_request(request, "malformed complete_request content");
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
        JupyterMessageContent::CompleteReply(CompleteReply {
            matches,
            cursor_start: char_offset(code, start),
            cursor_end: char_offset(code, end),
            ..CompleteReply::default()
        })
    }

    async fn inspect(&self, request: &Incoming) -> JupyterMessageContent {
        let Ok(content) = serde_json::from_value::<InspectRequest>(request.content.clone()) else {
            return bad_request(request, "malformed inspect_request content");
        };
        let code = &content.code;
        let cursor = byte_offset(code, content.cursor_pos);
        let (_, line) = line_at(code, cursor);
        let found = if is_magic_line(line) {
            self.magics
                .inspect(line)
                .map(|help| vec![MediaType::Plain(help)])
        } else {
            self.rust.inspect(code, cursor).await.map(|hover| {
                let mut data = vec![MediaType::Plain(hover.text)];
                if !hover.html.is_empty() {
                    data.push(MediaType::Html(hover.html));
                }
                data
            })
        };
        JupyterMessageContent::InspectReply(InspectReply {
            found: found.is_some(),
            data: Media::new(found.unwrap_or_default()),
            ..InspectReply::default()
        })
    }

    fn history(&self, request: &Incoming) -> JupyterMessageContent {
        let query = match serde_json::from_value::<HistoryQuery>(request.content.clone()) {
            Ok(query) => query,
            Err(err) => return bad_request(request, &format!("malformed history_request: {err}")),
        };
        match self.executor.history().query(&query) {
            Ok(history) => JupyterMessageContent::HistoryReply(HistoryReply::new(history)),
            Err(message) => bad_request(request, &message),
        }
    }
}

fn is_complete(request: &Incoming) -> JupyterMessageContent {
    let Ok(content) = serde_json::from_value::<IsCompleteRequest>(request.content.clone()) else {
        return bad_request(request, "malformed is_complete_request content");
    };
    JupyterMessageContent::IsCompleteReply(match is_complete::cell(&content.code) {
        Completeness::Complete => IsCompleteReply::complete(),
        Completeness::Invalid => IsCompleteReply::invalid(),
        Completeness::Incomplete(indent) => IsCompleteReply::incomplete(indent),
    })
}

/// The error reply to a `request` whose content cannot be served.
fn bad_request(request: &Incoming, message: &str) -> JupyterMessageContent {
    replies::failed(request.msg_type(), "BadRequest", message)
}
