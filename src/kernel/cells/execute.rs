//! One `execute_request`: count it, route each part of the cell to the magics
//! or to Rust, publish what it shows, and build the `execute_reply`.

use std::sync::Arc;

use std::collections::HashMap;

use jupyter_protocol::{
    ExecuteReply, ExecuteRequest, ExecutionCount, Media, MediaType, Payload, ReplyStatus,
};
use serde_json::{Value, json};

use super::displays::Displays;
use super::history::History;
use super::interrupt::Interrupter;
use super::output::{CellError, CellSink};
use super::rust::rust_cells::RustCells;
use super::user_expressions;
use crate::kernel::protocol::handler::Executed;
use crate::kernel::protocol::iopub::Publisher;
use crate::kernel::protocol::stdin::{InputSource, StdinChannel};
use crate::kernel::protocol::wire::Incoming;
use crate::magics::{CellPart, Magics, is_magic_line, split_cell};

/// Runs cells, one at a time, and keeps the execution count and history.
pub struct Executor {
    publisher: Publisher,
    rust: RustCells,
    magics: Arc<Magics>,
    interrupter: Interrupter,
    stdin: StdinChannel,
    displays: Displays,
    execution_count: usize,
    history: History,
}

impl Executor {
    /// An executor publishing through `publisher`, asking for input on
    /// `stdin`, keeping `history`.
    pub fn new(
        publisher: Publisher,
        rust: RustCells,
        magics: Arc<Magics>,
        interrupter: Interrupter,
        stdin: StdinChannel,
        history: History,
    ) -> Self {
        Self {
            publisher,
            rust,
            magics,
            interrupter,
            stdin,
            displays: Displays::default(),
            execution_count: 0,
            history,
        }
    }

    /// Forget the cell that was running (its handler panicked): later
    /// display updates and interrupts no longer go to it.
    pub fn abandon_cell(&self) {
        self.displays.end_cell();
        self.interrupter.end_cell();
    }

    /// The cells run so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The reply to a request aborted because an earlier cell failed.
    pub fn aborted_reply(&self) -> ExecuteReply {
        self.reply(ReplyStatus::Aborted, Vec::new())
    }

    /// An `execute_reply` of `status` at the current count, with `payload`.
    fn reply(&self, status: ReplyStatus, payload: Vec<Payload>) -> ExecuteReply {
        ExecuteReply {
            status,
            execution_count: ExecutionCount::new(self.execution_count),
            payload,
            user_expressions: Some(HashMap::new()),
            error: None,
        }
    }

    /// Run the cell of `request`.
    pub async fn execute(&mut self, request: &Incoming) -> Executed {
        let content: ExecuteRequest = match serde_json::from_value(request.content.clone()) {
            Ok(content) => content,
            Err(err) => {
                let error = CellError::new(
                    "BadRequest",
                    &format!("malformed execute_request content: {err}"),
                );
                return self.failure(&error);
            }
        };
        let store = content.store_history && !content.silent;
        if store {
            self.execution_count += 1;
            self.history.record(self.execution_count, &content.code);
        }
        let sink = CellSink::new(
            self.publisher.clone(),
            request.header.clone(),
            self.displays.clone(),
        );
        if !content.silent {
            self.publisher.publish(
                "execute_input",
                json!({ "code": content.code, "execution_count": self.execution_count }),
                Some(&request.header),
            );
        }
        self.displays.begin_cell(&self.publisher, &request.header);
        let mut executed = self.run_cell(request, &content, &sink).await;
        let has_expressions = content
            .user_expressions
            .as_ref()
            .is_some_and(|e| !e.is_empty());
        if has_expressions && executed.reply.status == ReplyStatus::Ok {
            let input = InputSource::new(
                self.stdin.clone(),
                request,
                content.allow_stdin,
                self.interrupter.begin_cell(),
            );
            executed.reply.user_expressions = Some(
                user_expressions::evaluate(&self.rust, &content.user_expressions, &sink, input)
                    .await,
            );
            self.interrupter.end_cell();
        }
        sink.flush();
        self.displays.end_cell();
        executed
    }

    /// Run the parts of a cell, publishing what they show into `sink`.
    async fn run_cell(
        &mut self,
        request: &Incoming,
        content: &ExecuteRequest,
        sink: &CellSink,
    ) -> Executed {
        if let Some(help) = self.pager_help(&content.code) {
            // `%crimpl submit?` pages the command's help, as `?` does in IPython.
            let page = Payload::Page {
                data: Media::new(vec![MediaType::Plain(help)]),
                start: 0,
            };
            return Executed {
                reply: self.reply(ReplyStatus::Ok, vec![page]),
                failed: false,
            };
        }
        let token = self.interrupter.begin_cell();
        let mut outcome = Ok(());
        for part in split_cell(&content.code) {
            outcome = match part {
                CellPart::Rust(code) => match self
                    .rust
                    .eval(
                        &code,
                        sink.clone(),
                        InputSource::new(
                            self.stdin.clone(),
                            request,
                            content.allow_stdin,
                            token.clone(),
                        ),
                    )
                    .await
                {
                    Ok(bundle) => {
                        if !bundle.is_empty() && !content.silent {
                            if let Some(Value::String(text)) = bundle.get("text/plain") {
                                self.history.record_output(text);
                            }
                            // evcxr's rich output (HTML, images) is a display; a plain value is the result.
                            if bundle.keys().any(|mime| mime != "text/plain") {
                                sink.display_bundle(bundle, None);
                            } else {
                                sink.execute_result(self.execution_count, bundle);
                            }
                        }
                        Ok(())
                    }
                    Err(error) => Err(error),
                },
                CellPart::Magic { line, body } => self
                    .magics
                    .run(
                        &line,
                        body.as_deref(),
                        Arc::new(sink.clone()),
                        Arc::new(InputSource::new(
                            self.stdin.clone(),
                            request,
                            content.allow_stdin,
                            token.clone(),
                        )),
                        token.clone(),
                    )
                    .await
                    .map_err(|err| CellError::new(err.kind(), &err.to_string())),
            };
            if outcome.is_err() || token.is_cancelled() {
                break;
            }
        }
        self.interrupter.end_cell();
        match outcome {
            Ok(()) => Executed {
                reply: self.reply(ReplyStatus::Ok, Vec::new()),
                failed: false,
            },
            Err(error) => {
                sink.error(&error);
                let mut executed = self.failure(&error);
                executed.failed = content.stop_on_error;
                executed
            }
        }
    }

    /// The help to page for a cell that is one magic line ending in `?`.
    fn pager_help(&self, code: &str) -> Option<String> {
        let line = code.trim().strip_suffix('?')?;
        if line.contains('\n') || !is_magic_line(line) {
            return None;
        }
        self.magics.inspect(line)
    }

    /// The `execute_reply` of a cell that ended in `error`.
    pub fn failed_reply(&self, error: &CellError) -> ExecuteReply {
        let mut reply = self.reply(ReplyStatus::Error, Vec::new());
        reply.error = Some(Box::new(error.to_reply_error()));
        reply
    }

    fn failure(&self, error: &CellError) -> Executed {
        Executed {
            reply: self.failed_reply(error),
            failed: true,
        }
    }
}
