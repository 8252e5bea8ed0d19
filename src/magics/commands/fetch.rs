//! `%crimpl fetch`: copy a job's outputs (or named paths) into the
//! notebook's directory.

use std::path::PathBuf;

use clap::Args;

use crate::crimpl::UnpackPolicy;
use crate::magics::args::ServerArg;
use crate::magics::job_command::JobTarget;
use crate::magics::offload::progress_to;
use crate::magics::state::State;
use crate::magics::{MagicError, MagicResult, Output, render};

/// `%crimpl fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The job's name (default: this kernel's latest job).
    pub job: Option<String>,
    /// Paths inside the job directory (default: its output files).
    pub paths: Vec<String>,
    /// Directory to fetch into (default: the notebook's directory).
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// Replace existing files that differ.
    #[arg(long)]
    pub overwrite: bool,
    /// Take hidden files and directories too (`.git/...`; left out by default unless named).
    #[arg(long)]
    pub hidden: bool,
    /// An array's outputs in one folder, not one per task (when no two tasks wrote the same path).
    #[arg(long)]
    pub merge: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// `%crimpl fetch [JOB] [PATH...]`.
pub async fn fetch(state: &State, args: FetchArgs, out: &Output) -> MagicResult {
    let job_target = JobTarget::named(state, &args.server, &args.job)?;
    let job = job_target.job.clone();
    let target = match &args.to {
        Some(to) if to.is_absolute() => to.clone(),
        Some(to) => state.working_dir().join(to),
        None => state.working_dir().clone(),
    };
    let destination = target.clone();
    let progress = progress_to(out);
    let policy = UnpackPolicy {
        overwrite: args.overwrite,
        hidden: args.hidden,
        named: Vec::new(),
        strip_first_part: args.merge,
    };
    let report = job_target
        .blocking(move |reader, name| {
            reader.fetch(name, &args.paths, &destination, policy, &progress)
        })
        .await?;
    out.display(
        &render::fetch_report(&job, &target.display().to_string(), &report),
        None,
    );
    if let Some(manifest) = &report.manifest {
        let checked = match report.verified {
            0 => String::new(),
            n => format!("{n} file(s) match the sha256 the job recorded when it ended. "),
        };
        out.display(
            &render::message(&format!(
                "{checked}What ran, and what it made: {}",
                manifest.display()
            )),
            None,
        );
    }
    if !report.mismatched.is_empty() {
        return Err(MagicError::Crimpl(anyhow::anyhow!(
            "{} fetched file(s) of job {job} differ from what the job made (see the table): \
             they changed on the server after the job ended, or in transit; \
             fetch them again with --overwrite",
            report.mismatched.len(),
        )));
    }
    if report.has_failures() {
        return Err(MagicError::Crimpl(anyhow::anyhow!(
            "{} file(s) of job {job} could not be written into {} (see the table): \
             nothing of them was written; fix the cause, or fetch into another directory with --to",
            report.failed.len(),
            target.display()
        )));
    }
    Ok(())
}
