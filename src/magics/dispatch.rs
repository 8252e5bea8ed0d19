//! The `%crimpl` interpreter of one kernel (the [`Magics`] facade): it
//! expands a magic line's variables, parses it, checks its cell body, and
//! has the command applied with the kernel's [`State`] by the dispatcher
//! (`commands::Command::apply`), which handlers never import.

use std::sync::Arc;

use super::commands::{Parsed, parse, takes_body};
use super::complete::{self, Completion};
use super::expand::expand_variables;
use super::login_prompts::CellPrompter;
use super::state::State;
use super::{Cancel, CellInput, MagicError, MagicResult, Output, StreamName, aws};
use crate::crimpl::Registry;

/// The `%crimpl` interpreter of one kernel.
pub struct Magics {
    state: State,
}

impl Magics {
    /// Magics using `registry`, fetching into `working_dir` by default.
    pub fn new(registry: Registry, working_dir: std::path::PathBuf) -> Self {
        Self {
            state: State::new(registry, working_dir),
        }
    }

    /// Magics for this process: the user's registry and the current directory.
    pub fn from_environment() -> anyhow::Result<Self> {
        Ok(Self {
            state: State::from_environment()?,
        })
    }

    /// Run one magic: `line` is what follows `%crimpl`/`%%crimpl`, `body`
    /// the rest of a `%%crimpl` cell.
    /// Login questions for connections it opens are asked through `input`.
    pub async fn run(
        &self,
        line: &str,
        body: Option<&str>,
        out: Output,
        input: Arc<dyn CellInput>,
        cancel: Cancel,
    ) -> MagicResult {
        let _loan = crate::crimpl::transport::lend_prompter(Arc::new(CellPrompter(input)));
        let line = expand_variables(line, &self.state.variables())?;
        let (words, parsed) = match parse(&line)? {
            Parsed::Help(help) => {
                out.stream(StreamName::Stdout, &help);
                return Ok(());
            }
            Parsed::Command { words, line } => (words, line),
        };
        match (&body, takes_body(&parsed.command)) {
            (None, true) => {
                return Err(MagicError::Usage(format!(
                    "`{}` needs a script: write `%%crimpl {line}` on the first line of a cell, and the script below it",
                    words[0]
                )));
            }
            (Some(body), false) if !body.trim().is_empty() => {
                return Err(MagicError::Usage(format!(
                    "`{}` takes no cell body: use `%crimpl {line}` on a line of its own",
                    words[0]
                )));
            }
            _ => {}
        }
        let body = body.unwrap_or_default();
        parsed.command.apply(&self.state, body, &out, &cancel).await
    }

    /// Completions for a magic line at byte `cursor`.
    pub fn complete(&self, line: &str, cursor: usize) -> Completion {
        let servers = self.state.server_names();
        let jobs = self.state.known_job_names();
        complete::complete(line, cursor, &servers, &jobs)
    }

    /// The help of the command on a magic line (for inspect / Shift-Tab).
    pub fn inspect(&self, line: &str) -> Option<String> {
        complete::help_for(line)
    }

    /// Lines for the kernel's log at shutdown: crimpl instances still running
    /// on the AWS servers this kernel used (none if it used no AWS server).
    pub async fn shutdown_notes(&self) -> Vec<String> {
        let servers = self.state.open_aws_servers();
        aws::shutdown_notes(servers, std::time::Duration::from_secs(3)).await
    }

    /// Stop every background watcher (the kernel is shutting down: `reason`).
    pub fn stop_watching(&self, reason: &str) {
        self.state.stop_watching(reason);
    }
}
