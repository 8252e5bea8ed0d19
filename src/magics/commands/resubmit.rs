//! `%crimpl resubmit`: run a job's script again in its directory (an
//! array's tasks: all, or those that did not complete).

use clap::Args;

use crate::magics::args::JobArgs;
use crate::magics::job_command::JobTarget;
use crate::magics::job_command::starting;
use crate::magics::state::State;
use crate::magics::watch::{display_id, watch_in_background};
use crate::magics::{MagicResult, Output, render};

/// `%crimpl resubmit`.
#[derive(Args, Debug, Clone)]
pub struct ResubmitArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// An array: run again only the tasks that did not complete.
    #[arg(long)]
    pub failed: bool,
}

/// `%crimpl resubmit [JOB] [--failed]`.
pub async fn resubmit(state: &State, args: &ResubmitArgs, out: &Output) -> MagicResult {
    let target = JobTarget::of(state, &args.job)?;
    let failed = args.failed;
    let tasks = target
        .blocking(move |submitter, name| submitter.resubmit(name, failed))
        .await?;
    let JobTarget { server, job } = target;
    if tasks > 0 {
        out.display(
            &render::message(&format!("Running {tasks} task(s) of array {job} again.")),
            None,
        );
    }
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    let _watching = displays.foreground(server.name(), &job);
    displays.seen(server.name(), &starting(&job));
    displays.add(
        server.name(),
        &starting(&job),
        &display_id(&server, &job),
        out,
    );
    watch_in_background(state, server, &job, out.clone());
    Ok(())
}
