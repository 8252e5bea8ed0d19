//! `%crimpl wait`: wait for a job to end (or reach `--until`), showing its
//! status and new log lines.

use std::time::Duration;

use clap::Args;

use crate::magics::args::JobArgs;
use crate::magics::job_command::JobTarget;
use crate::magics::job_command::finish_wait;
use crate::magics::numbers;
use crate::magics::state::State;
use crate::magics::timeline;
use crate::magics::watch::{Watch, display_id, watch};
use crate::magics::{Cancel, MagicResult, Output};

/// `%crimpl wait`.
#[derive(Args, Debug)]
pub struct WaitArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Stop waiting at this status (default: when the job ends).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::crimpl::JobStatus::WORDS))]
    pub until: Option<String>,
    /// Seconds between status checks (0.1 to 86400).
    #[arg(long, default_value_t = 1.0, value_parser = numbers::poll_seconds)]
    pub poll: f64,
}

/// `%crimpl wait [JOB]`.
pub async fn wait(state: &State, args: WaitArgs, out: &Output, cancel: &Cancel) -> MagicResult {
    let target = JobTarget::of(state, &args.job)?;
    let record = target
        .blocking(move |reader, name| reader.job(name))
        .await?;
    let JobTarget { server, job } = target;
    let resubmits = server.can_resubmit();
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    let _watching = displays.foreground(server.name(), &job);
    displays.seen(server.name(), &record);
    displays.add(server.name(), &record, &display_id(&server, &job), out);
    let watching = Watch {
        server,
        job: job.clone(),
        stream_log: true,
        until: args.until.clone(),
        poll: Duration::from_secs_f64(args.poll),
    };
    let ended = watch(watching, out.clone(), cancel.clone(), &displays).await?;
    // A sweep that ended: its picture under its summary.
    if let Some(record) = ended.as_ref().filter(|r| r.status.is_final())
        && let Some(picture) = timeline::timeline(&job, record, chrono::Utc::now())
    {
        out.display_data(picture, None);
    }
    match (&args.until, ended) {
        (Some(until), Some(record)) if record.status.word() == until => Ok(()),
        (_, ended) => finish_wait(ended, &job, resubmits),
    }
}
