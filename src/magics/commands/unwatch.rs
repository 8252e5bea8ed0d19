//! `%crimpl unwatch`: stop updating job displays; the jobs go on.

use clap::Args;

use crate::magics::args::ServerArg;
use crate::magics::job_command::JobTarget;
use crate::magics::state::State;
use crate::magics::{MagicResult, Output, StreamName};

/// `%crimpl unwatch`.
#[derive(Args, Debug, Clone)]
pub struct UnwatchArgs {
    /// The job (default: this kernel's latest job).
    #[arg(conflicts_with = "all")]
    pub job: Option<String>,
    #[command(flatten)]
    pub server: ServerArg,
    /// Stop watching every job.
    #[arg(long)]
    pub all: bool,
}

/// `%crimpl unwatch [JOB] [--all]`: stop background watchers; jobs go on.
pub fn unwatch(state: &State, args: &UnwatchArgs, out: &Output) -> MagicResult {
    let reason = "stopped by %crimpl unwatch";
    let stopped = if args.all {
        state.job_displays().stop(None, reason)
    } else {
        let JobTarget { server, job } = JobTarget::named(state, &args.server, &args.job)?;
        state
            .job_displays()
            .stop(Some((server.name(), &job)), reason)
    };
    let message = if stopped.is_empty() {
        "No job was being watched.".to_string()
    } else {
        format!("Stopped watching: {} (the jobs go on).", stopped.join(", "))
    };
    out.stream(StreamName::Stdout, &format!("{message}\n"));
    Ok(())
}
