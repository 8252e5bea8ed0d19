//! `%crimpl ls`: a job's files, marked input, output or crimpl (an array's
//! summarised).

use crate::magics::args::JobArgs;
use crate::magics::job_command::JobTarget;
use crate::magics::state::State;
use crate::magics::{MagicResult, Output, array_views, render};

/// The most entries `ls` shows; a larger job directory gets a summary.
const LS_ROWS: usize = 1000;

/// `%crimpl ls [JOB]`.
pub async fn ls(state: &State, args: &JobArgs, out: &Output) -> MagicResult {
    let target = JobTarget::of(state, args)?;
    // An array is summarised, not listed task by task.
    let view = target
        .blocking(move |reader, name| {
            Ok(if reader.is_array(name)? {
                array_views::files(name, &reader.task_outputs(name)?)
            } else {
                render::files(name, &reader.ls(name, Some(LS_ROWS), false)?)
            })
        })
        .await?;
    out.display(&view, None);
    Ok(())
}
