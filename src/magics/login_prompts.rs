//! Login questions (passwords, one-time codes, key passphrases) asked in
//! the cell that needs the connection, through its stdin channel.

use std::sync::Arc;

use super::CellInput;
use crate::crimpl::transport::Prompter;

/// The engine's [`Prompter`] over a cell's input.
pub struct CellPrompter(pub Arc<dyn CellInput>);

impl Prompter for CellPrompter {
    fn can_ask(&self) -> bool {
        self.0.allowed()
    }

    fn ask(&self, prompt: &str, echo: bool) -> anyhow::Result<String> {
        self.0.read_line(prompt, !echo).map_err(anyhow::Error::msg)
    }
}
