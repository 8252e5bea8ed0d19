//! What the job commands share: the server and job every one of them opens
//! with ([`JobTarget`]), `--files` paths read from the notebook's directory,
//! the record of a job just submitted, and how a wait ends.

use std::path::PathBuf;
use std::sync::Arc;

use crate::crimpl::{JobRecord, JobStatus, Server};
use crate::magics::args::{JobArgs, ServerArg};
use crate::magics::offload::blocking;
use crate::magics::state::State;
use crate::magics::{MagicError, MagicResult, array_views};

/// The server and job a job command acts on: `--server` (or the current
/// server) and the job named (or this kernel's latest job there), resolved
/// the same way by every job command.
pub struct JobTarget {
    /// The server.
    pub server: Arc<Server>,
    /// The job's name.
    pub job: String,
}

impl JobTarget {
    /// The target of a command's `JOB [--server NAME]` arguments.
    pub fn of(state: &State, args: &JobArgs) -> Result<Self, MagicError> {
        Self::named(state, &args.server, &args.job)
    }

    /// The target of a server argument and a job name given apart.
    pub fn named(
        state: &State,
        server: &ServerArg,
        job: &Option<String>,
    ) -> Result<Self, MagicError> {
        let server = state.server(server)?;
        let job = state.job_name(&server, job)?;
        Ok(Self { server, job })
    }

    /// Run `work` on the server with the job's name, off the async runtime.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Server, &str) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, MagicError> {
        let (server, job) = (self.server.clone(), self.job.clone());
        blocking(move || work(&server, &job)).await
    }
}

/// `--files` relative to the notebook's directory.
pub fn local_paths(state: &State, files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|f| {
            if f.is_absolute() {
                f.clone()
            } else {
                state.working_dir().join(f)
            }
        })
        .collect()
}

/// The record of a job just submitted, before its status is read.
pub fn starting(job: &str) -> JobRecord {
    JobRecord::new(job, JobStatus::Starting)
}

/// The outcome of a wait: an error if the job ended badly or watching was
/// interrupted (naming `resubmit --failed` where the server `resubmits`).
pub fn finish_wait(ended: Option<JobRecord>, job: &str, resubmits: bool) -> MagicResult {
    match ended {
        None => Err(MagicError::Interrupted(format!(
            "Stopped watching job {job}; the job itself goes on (%crimpl status {job})."
        ))),
        Some(record) if record.status.is_error() && !record.tasks.is_empty() => {
            Err(MagicError::Crimpl(anyhow::anyhow!(
                "array {job} ended {}: {} ({}){}",
                record.shown(),
                array_views::counts(&record),
                array_views::not_complete(&record, 3),
                if resubmits {
                    format!("; %crimpl resubmit {job} --failed runs them again")
                } else {
                    String::new()
                }
            )))
        }
        Some(record) if record.status.is_error() => Err(MagicError::Crimpl(anyhow::anyhow!(
            "job {job} ended {} (%crimpl log {job} shows its output)",
            record.shown()
        ))),
        Some(_) => Ok(()),
    }
}
