//! The `%crimpl` magics: a thin layer that parses magic lines, calls the
//! [`crate::crimpl`] engine, and renders results (HTML with a text fallback)
//! into a [`CellOutput`] that the kernel publishes. It knows nothing of
//! sockets or messages.

mod args;
mod array_views;
mod aws;
mod cell;
mod commands;
mod complete;
mod dispatch;
mod expand;
#[cfg(test)]
mod fuzz;
mod job_command;
mod job_displays;
mod login_prompts;
mod manifest_view;
mod numbers;
mod offload;
mod previews;
mod render;
mod state;
mod table;
mod timeline;
mod utf8;
mod variables;
mod watch;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::crimpl::EngineError;

pub use cell::{CellPart, for_history, is_magic_line, split_cell};
pub use dispatch::Magics;

/// Which output stream text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Something to display: HTML for notebooks, text for consoles.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The `text/html` form.
    pub html: String,
    /// The `text/plain` form.
    pub text: String,
}

impl View {
    /// The mime bundle of this view.
    pub fn to_bundle(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut bundle = serde_json::Map::new();
        bundle.insert("text/html".into(), self.html.clone().into());
        bundle.insert("text/plain".into(), self.text.clone().into());
        bundle
    }
}

/// Where a magic shows things: the output area of the cell that ran it.
/// Implementations must be usable from other tasks after the cell ends
/// (a submitted job's display keeps updating).
pub trait CellOutput: Send + Sync {
    /// Append text to a stream.
    fn stream(&self, name: StreamName, text: &str);
    /// Show a mime bundle (`image/png`, `text/html`, ...), optionally under
    /// a display id for later updates.
    fn display_data(
        &self,
        data: serde_json::Map<String, serde_json::Value>,
        display_id: Option<&str>,
    );
    /// Replace the mime bundle shown under `display_id`.
    fn update_data(&self, data: serde_json::Map<String, serde_json::Value>, display_id: &str);
    /// Show a view, optionally under a display id for later updates.
    fn display(&self, view: &View, display_id: Option<&str>) {
        self.display_data(view.to_bundle(), display_id);
    }
    /// Replace the view shown under `display_id`.
    fn update_display(&self, view: &View, display_id: &str) {
        self.update_data(view.to_bundle(), display_id);
    }
}

/// Where a magic asks the person at the notebook a question: the stdin
/// channel of the client that ran the cell.
pub trait CellInput: Send + Sync {
    /// Whether that client accepts input (`allow_stdin`).
    fn allowed(&self) -> bool;
    /// Ask for one line showing `prompt` (`password` hides the answer);
    /// blocks the calling thread, which must not be an async runtime's.
    fn read_line(&self, prompt: &str, password: bool) -> Result<String, String>;
}

/// A magic's output sink, shared with background watchers.
pub type Output = Arc<dyn CellOutput>;

/// Why a magic failed, as shown in the cell.
#[derive(Debug, thiserror::Error)]
pub enum MagicError {
    /// Wrong arguments: the message includes the usage line.
    #[error("{0}")]
    Usage(String),
    /// The engine failed (server unreachable, job missing, script failed...).
    #[error("{0:#}")]
    Crimpl(#[from] anyhow::Error),
    /// The user interrupted a wait or a run.
    #[error("{0}")]
    Interrupted(String),
}

impl MagicError {
    /// The error's name, shown as `ename`.
    pub fn kind(&self) -> &'static str {
        match self {
            MagicError::Usage(_) => "UsageError",
            MagicError::Crimpl(err) => {
                EngineError::of(err).map_or("CrimplError", EngineError::name)
            }
            MagicError::Interrupted(_) => "Interrupted",
        }
    }
}

/// The result of a magic.
pub type MagicResult = Result<(), MagicError>;

/// A cancellation token for the running cell.
pub type Cancel = CancellationToken;
