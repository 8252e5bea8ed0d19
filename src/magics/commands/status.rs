//! `%crimpl status`: a job's status (an array's summary, or every task).

use clap::Args;

use crate::magics::args::JobArgs;
use crate::magics::job_command::JobTarget;
use crate::magics::state::State;
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
}

/// `%crimpl status [JOB] [--tasks]`.
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
    }
    Ok(())
}
