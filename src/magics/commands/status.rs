//! `%crimpl status`: a job's status (an array's summary, or every task, or
//! its manifest).

use clap::Args;

use crate::magics::args::JobArgs;
use crate::magics::job_command::JobTarget;
use crate::magics::manifest_view;
use crate::magics::offload::blocking;
use crate::magics::state::State;
use crate::magics::timeline;
use crate::magics::watch::display_id;
use crate::magics::{MagicError, MagicResult, Output, render};

/// `%crimpl status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// An array: list every task with its status.
    #[arg(long)]
    pub tasks: bool,
    /// Show the job's manifest: what it ran, where, when, and what it made.
    #[arg(long)]
    pub manifest: bool,
}

/// `%crimpl status [JOB] [--tasks] [--manifest]`.
pub async fn status(state: &State, args: &StatusArgs, out: &Output) -> MagicResult {
    let target = JobTarget::of(state, &args.job)?;
    let record = target
        .blocking(move |reader, name| reader.job(name))
        .await?;
    let JobTarget { server, job } = target;
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    displays.seen(server.name(), &record);
    displays.add(server.name(), &record, &display_id(&server, &job), out);
    if args.tasks {
        if record.tasks.is_empty() {
            return Err(MagicError::Usage(format!(
                "job {job} is not an array: --tasks lists an array's tasks"
            )));
        }
        out.display(&render::tasks(&job, &record), None);
        if let Some(picture) = timeline::timeline(&job, &record, chrono::Utc::now()) {
            out.display_data(picture, None);
        }
    }
    if args.manifest {
        let reader = server.clone();
        let name = job.clone();
        match blocking(move || reader.manifest(&name)).await? {
            Some(manifest) => manifest_view::show(&job, &manifest, out),
            None => {
                return Err(MagicError::Usage(format!(
                    "job {job} has no manifest: it was made by crimpl 0.2.0 or an older kernel"
                )));
            }
        }
    }
    Ok(())
}
