//! Cells: a cell routed to the magics or to Rust, its outputs and displays,
//! the execution count and history, interrupts, and the kernel's info.
//! [`Cells`] is the protocol's [`ShellHandler`]: the one place that joins
//! the magics and the Rust cells for the shell channel.

pub mod displays;
pub mod execute;
pub mod history;
pub mod interrupt;
pub mod kernel_info;
pub mod output;
pub mod rust;
pub mod stream_batcher;
pub mod user_expressions;

use std::sync::Arc;

use jupyter_protocol::{
    ExecuteReply, HistoryEntry, IsCompleteReply, JupyterMessageContent, MediaType,
};
use serde_json::Value;

use crate::kernel::protocol::handler::{Completions, Executed, ShellHandler};
use crate::kernel::protocol::text::line_at;
use crate::kernel::protocol::wire::Incoming;
use crate::magics::{Magics, is_magic_line};
use execute::Executor;
use history::HistoryQuery;
use output::CellError;
use rust::is_complete::{self, Completeness};
use rust::rust_cells::RustCells;

/// The shell's handler: cells run by the executor; completion and
/// inspection of a `%crimpl` line by the magics, of other code by Rust.
pub struct Cells {
    executor: Executor,
    magics: Arc<Magics>,
    rust: RustCells,
}

impl Cells {
    /// Cells run by `executor`, with `magics` and `rust` for completion and inspection.
    pub fn new(executor: Executor, magics: Arc<Magics>, rust: RustCells) -> Self {
        Self {
            executor,
            magics,
            rust,
        }
    }
}

impl ShellHandler for Cells {
    async fn execute(&mut self, request: &Incoming) -> Executed {
        self.executor.execute(request).await
    }

    fn cell_panicked(&self, ename: &str, message: &str) -> (Value, ExecuteReply) {
        self.executor.abandon_cell();
        let error = CellError::new(ename, message);
        (error.to_content(), self.executor.failed_reply(&error))
    }

    fn aborted_reply(&self) -> ExecuteReply {
        self.executor.aborted_reply()
    }

    async fn complete(&self, code: &str, cursor: usize) -> Option<Completions> {
        let (line_start, line) = line_at(code, cursor);
        if is_magic_line(line) {
            let completion = self.magics.complete(line, cursor - line_start);
            Some(Completions {
                matches: completion.matches,
                start: line_start + completion.start,
                end: line_start + completion.end,
            })
        } else {
            self.rust.complete(code, cursor).await.map(|c| Completions {
                matches: c.matches,
                start: c.start,
                end: c.end,
            })
        }
    }

    async fn inspect(&self, code: &str, cursor: usize) -> Option<Vec<MediaType>> {
        let (_, line) = line_at(code, cursor);
        if is_magic_line(line) {
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
        }
    }

    fn is_complete(&self, code: &str) -> IsCompleteReply {
        match is_complete::cell(code) {
            Completeness::Complete => IsCompleteReply::complete(),
            Completeness::Invalid => IsCompleteReply::invalid(),
            Completeness::Incomplete(indent) => IsCompleteReply::incomplete(indent),
        }
    }

    fn history(&self, content: &Value) -> Result<Vec<HistoryEntry>, String> {
        let query = serde_json::from_value::<HistoryQuery>(content.clone())
            .map_err(|err| format!("malformed history_request: {err}"))?;
        self.executor.history().query(&query)
    }

    fn kernel_info(&self) -> JupyterMessageContent {
        kernel_info::reply()
    }
}
