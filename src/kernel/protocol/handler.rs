//! What the protocol asks of the side that runs cells (the `ShellHandler`
//! idea of amalthea, posit-dev/ark's kernel framework): the shell and
//! control loops serve Jupyter's messages and reach cells, completion,
//! inspection, history and interrupts only through these traits, so the
//! protocol never names the magics or Rust.

use std::future::Future;

use jupyter_protocol::{
    ExecuteReply, HistoryEntry, IsCompleteReply, JupyterMessageContent, MediaType,
};
use serde_json::Value;

use super::wire::Incoming;

/// The reply to send and whether the cell failed (which aborts queued cells).
pub struct Executed {
    /// The `execute_reply`.
    pub reply: ExecuteReply,
    /// Whether the cell ended in an error.
    pub failed: bool,
}

/// Completions at a cursor: the matches and the byte range they replace.
pub struct Completions {
    /// The candidates.
    pub matches: Vec<String>,
    /// Where the replaced text starts (a byte offset in the code).
    pub start: usize,
    /// Where it ends (a byte offset in the code).
    pub end: usize,
}

/// The cells' side of the shell channel.
pub trait ShellHandler: Send + Sync + 'static {
    /// Run the cell of an `execute_request`.
    fn execute(&mut self, request: &Incoming) -> impl Future<Output = Executed> + Send;

    /// The running cell's handler panicked: forget the cell, and give the
    /// `error` content to publish and the `execute_reply` for an error
    /// `ename` saying `message`.
    fn cell_panicked(&self, ename: &str, message: &str) -> (Value, ExecuteReply);

    /// The reply to a request aborted because an earlier cell failed.
    fn aborted_reply(&self) -> ExecuteReply;

    /// Completions for `code` at byte `cursor`, if any.
    fn complete(
        &self,
        code: &str,
        cursor: usize,
    ) -> impl Future<Output = Option<Completions>> + Send;

    /// What to show for `code` at byte `cursor` (inspect, Shift-Tab), if anything.
    fn inspect(
        &self,
        code: &str,
        cursor: usize,
    ) -> impl Future<Output = Option<Vec<MediaType>>> + Send;

    /// Whether `code` is a complete cell.
    fn is_complete(&self, code: &str) -> IsCompleteReply;

    /// The history a `history_request` with `content` asks for, or why not.
    fn history(&self, content: &Value) -> Result<Vec<HistoryEntry>, String>;

    /// The `kernel_info_reply`.
    fn kernel_info(&self) -> JupyterMessageContent;
}

/// Stops whatever the running cell is doing (`interrupt_request`, SIGINT).
pub trait Interrupt: Send + Sync {
    /// Interrupt the running cell, if one runs.
    fn interrupt(&self);
}
