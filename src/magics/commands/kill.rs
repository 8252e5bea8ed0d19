//! `%crimpl kill`: kill a running job; it ends as canceled.

use crate::magics::args::JobArgs;
use crate::magics::job_command::JobTarget;
use crate::magics::state::State;
use crate::magics::{MagicResult, Output, StreamName, render};

/// `%crimpl kill [JOB]`.
pub async fn kill(state: &State, args: &JobArgs, out: &Output) -> MagicResult {
    let target = JobTarget::of(state, args)?;
    let (outcome, record) = target
        .blocking(move |killer, name| {
            let outcome = killer.kill(name)?;
            Ok((outcome, killer.job(name)?))
        })
        .await?;
    let JobTarget { server, job } = target;
    state.job_displays().seen(server.name(), &record);
    if let Some(note) = outcome.nothing_signalled(&job) {
        out.stream(StreamName::Stdout, &format!("{note}\n"));
    }
    out.display(&render::jobs(server.name(), &[record]), None);
    Ok(())
}
