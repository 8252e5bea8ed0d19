//! The shell channel: requests handled one at a time, each between a `busy`
//! and an `idle` status, as Jupyter frontends expect.

use std::collections::VecDeque;

use jupyter_protocol::{
    CommInfoReply, CompleteReply, CompleteRequest, HistoryReply, InspectReply, InspectRequest,
    InterruptReply, IsCompleteRequest, JupyterMessageContent, Media,
};
use serde_json::{Value, json};

use super::handler::ShellHandler;
use super::iopub::Publisher;
use super::lifecycle::{Lifecycle, shutdown_reply};
use super::log::log;
use super::panics;
use super::replies;
use super::sockets::RouterChannel;
use super::text::{byte_offset, char_offset};
use super::usage;
use super::wire::Incoming;

/// Serves the shell socket, running cells and answering about code through
/// its [`ShellHandler`].
pub struct Shell<H: ShellHandler> {
    channel: RouterChannel,
    publisher: Publisher,
    handler: H,
    lifecycle: Lifecycle,
    /// Requests queued behind a failed cell when it ended (see `hold_queued`).
    held: Vec<Incoming>,
    /// Requests taken off the socket while aborting, still to be served.
    pending: VecDeque<Incoming>,
}

impl<H: ShellHandler> Shell<H> {
    /// A shell serving `channel` with `handler`.
    pub fn new(
        channel: RouterChannel,
        publisher: Publisher,
        handler: H,
        lifecycle: Lifecycle,
    ) -> Self {
        Self {
            channel,
            publisher,
            handler,
            lifecycle,
            held: Vec::new(),
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
                Err(panic) => self.internal_error(&request, &panic),
            };
            self.publisher.status("idle", Some(&request.header));
            if failed {
                self.abort_queued();
            }
        }
    }

    /// Answer a request whose handler panicked with an `error` reply (and,
    /// for a cell, an error in its output); returns whether it was a cell.
    fn internal_error(&mut self, request: &Incoming, panic: &str) -> bool {
        let msg_type = request.msg_type();
        log(&format!("panic while handling {msg_type}: {panic}"));
        let message = panics::user_message(msg_type, panic);
        let is_cell = msg_type == "execute_request";
        let reply = if is_cell {
            self.hold_queued();
            let (error, reply) = self.handler.cell_panicked(panics::ENAME, &message);
            self.publisher
                .publish("error", error, Some(&request.header));
            JupyterMessageContent::ExecuteReply(reply)
        } else {
            replies::failed(msg_type, panics::ENAME, &message)
        };
        self.channel.replier.reply(request, &reply);
        is_cell
    }

    /// Take the requests queued behind a cell that failed, before its reply
    /// goes out: a request that arrives after the reply was sent after the
    /// failure was seen, and runs.
    fn hold_queued(&mut self) {
        while let Ok(request) = self.channel.incoming.try_recv() {
            self.held.push(request);
        }
    }

    /// Answer the execute requests that were queued behind a failed cell
    /// with `aborted`, as ipykernel does; other requests are kept for later.
    fn abort_queued(&mut self) {
        for request in std::mem::take(&mut self.held) {
            if request.msg_type() == "execute_request" {
                self.publisher.status("busy", Some(&request.header));
                let reply = JupyterMessageContent::ExecuteReply(self.handler.aborted_reply());
                self.channel.replier.reply(&request, &reply);
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
                let executed = self.handler.execute(request).await;
                if executed.failed {
                    self.hold_queued();
                }
                let reply = JupyterMessageContent::ExecuteReply(executed.reply);
                self.channel.replier.reply(request, &reply);
                return executed.failed;
            }
            "kernel_info_request" => self.handler.kernel_info(),
            "interrupt_request" => {
                self.lifecycle.interrupt();
                JupyterMessageContent::InterruptReply(InterruptReply::new())
            }
            "shutdown_request" => {
                let (restart, reply) = shutdown_reply(&request.content);
                self.channel.replier.reply(request, &reply);
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
            "is_complete_request" => self.is_complete(request),
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
        self.channel.replier.reply(request, &reply);
        false
    }

    async fn complete(&self, request: &Incoming) -> JupyterMessageContent {
        let Ok(content) = serde_json::from_value::<CompleteRequest>(request.content.clone()) else {
            return bad_request(request, "malformed complete_request content");
        };
        let code = &content.code;
        let cursor = byte_offset(code, content.cursor_pos);
        let (matches, start, end) = match self.handler.complete(code, cursor).await {
            Some(found) => (found.matches, found.start, found.end),
            None => (Vec::new(), cursor, cursor),
        };
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
        let found = self.handler.inspect(code, cursor).await;
        JupyterMessageContent::InspectReply(InspectReply {
            found: found.is_some(),
            data: Media::new(found.unwrap_or_default()),
            ..InspectReply::default()
        })
    }

    fn history(&self, request: &Incoming) -> JupyterMessageContent {
        match self.handler.history(&request.content) {
            Ok(history) => JupyterMessageContent::HistoryReply(HistoryReply::new(history)),
            Err(message) => bad_request(request, &message),
        }
    }

    fn is_complete(&self, request: &Incoming) -> JupyterMessageContent {
        let Ok(content) = serde_json::from_value::<IsCompleteRequest>(request.content.clone())
        else {
            return bad_request(request, "malformed is_complete_request content");
        };
        JupyterMessageContent::IsCompleteReply(self.handler.is_complete(&content.code))
    }
}

/// The error reply to a `request` whose content cannot be served.
fn bad_request(request: &Incoming, message: &str) -> JupyterMessageContent {
    replies::failed(request.msg_type(), "BadRequest", message)
}
