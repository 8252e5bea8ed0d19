//! `%crimpl log`: a job's log, whole, its tail, followed, or Slurm's own
//! output file.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::crimpl::Server;
use crate::crimpl::scripts::LogKind;
use crate::magics::args::JobArgs;
use crate::magics::job_command::JobTarget;
use crate::magics::numbers;
use crate::magics::offload::blocking;
use crate::magics::state::State;
use crate::magics::utf8::Utf8Stream;
use crate::magics::watch::{LOG_CHUNK, Watch, display_id, watch};
use crate::magics::{Cancel, MagicError, MagicResult, Output, StreamName};

/// `%crimpl log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Only the last N lines (1 to 10000000).
    #[arg(long, value_parser = numbers::tail_lines())]
    pub tail: Option<usize>,
    /// Keep printing new lines until the job ends (interrupt to stop watching).
    #[arg(long)]
    pub follow: bool,
    /// Slurm: show Slurm's own output file of the job (its messages: time limit, memory, ...).
    #[arg(long, conflicts_with = "follow")]
    pub slurm: bool,
}

/// `%crimpl log [JOB]`.
pub async fn log(state: &State, args: LogArgs, out: &Output, cancel: &Cancel) -> MagicResult {
    let target = JobTarget::of(state, &args.job)?;
    let (server, job) = (target.server.clone(), target.job.clone());
    if args.slurm && server.config().kind() != "slurm" {
        return Err(MagicError::Usage(format!(
            "--slurm only applies to slurm servers; server {} is a {} server",
            server.name(),
            server.config().kind()
        )));
    }
    if !args.follow {
        let kind = if args.slurm {
            LogKind::Slurm
        } else {
            LogKind::Job
        };
        return print_log(&server, &job, kind, args.tail, out, cancel).await;
    }
    let record = target.blocking(|reader, name| reader.job(name)).await?;
    let displays = state.job_displays();
    let _watching = displays.foreground(server.name(), &job);
    displays.seen(server.name(), &record);
    displays.add(server.name(), &record, &display_id(&server, &job), out);
    let watching = Watch {
        server,
        job: job.clone(),
        stream_log: true,
        until: None,
        poll: Duration::from_millis(500),
    };
    match watch(watching, out.clone(), cancel.clone(), &displays).await? {
        None => Err(MagicError::Interrupted(format!(
            "Stopped following the log of job {job}; the job itself goes on."
        ))),
        Some(_) => Ok(()),
    }
}

/// Print the job's log (or its last `tail` lines) piece by piece, so a log
/// of any size passes through in bounded memory; an interrupt stops it.
async fn print_log(
    server: &Arc<Server>,
    job: &str,
    kind: LogKind,
    tail: Option<usize>,
    out: &Output,
    cancel: &Cancel,
) -> MagicResult {
    let mut offset = match tail {
        Some(lines) => {
            let (reader, name) = (server.clone(), job.to_string());
            blocking(move || reader.log_tail_offset(&name, kind, lines)).await?
        }
        None => 0,
    };
    let mut text = Utf8Stream::default();
    loop {
        let (reader, name) = (server.clone(), job.to_string());
        let piece = blocking(move || reader.log(&name, kind, offset, LOG_CHUNK)).await?;
        offset += piece.len() as u64;
        out.stream(StreamName::Stdout, &text.decode(&piece));
        if (piece.len() as u64) < LOG_CHUNK {
            out.stream(StreamName::Stdout, &text.finish());
            return Ok(());
        }
        if cancel.is_cancelled() {
            return Err(MagicError::Interrupted(format!(
                "Stopped printing the log of job {job} at byte {offset}."
            )));
        }
    }
}
