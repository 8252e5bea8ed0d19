//! Watching jobs: polling a job's status (and log) on a blocking thread,
//! updating the job's displays in place, streaming new log lines, stopping
//! when the job ends or is deleted, or the watcher is cancelled (which never
//! touches the job).

use std::sync::Arc;
use std::time::Duration;

use super::job_displays::JobDisplays;
use super::offload::blocking;
use super::state::State;
use super::utf8::Utf8Stream;
use super::{Cancel, MagicError, Output, StreamName};
use crate::crimpl::scripts::LogKind;
use crate::crimpl::{EngineError, JobRecord, JobStatus, Server};

/// The most bytes of a job's log read (and shown) in one piece.
pub const LOG_CHUNK: u64 = 4 << 20;

/// Poll interval growing from `first` to at most `max` while nothing changes.
struct Backoff {
    current: Duration,
    max: Duration,
}

impl Backoff {
    fn next(&mut self, changed: bool, first: Duration) -> Duration {
        self.current = if changed {
            first
        } else {
            (self.current.mul_f64(1.5)).min(self.max)
        };
        self.current
    }
}

/// What a watch should do besides updating the job's displays.
pub struct Watch {
    /// The server holding the job.
    pub server: Arc<Server>,
    /// The job.
    pub job: String,
    /// Stream new log lines into the cell.
    pub stream_log: bool,
    /// Stop at this status word instead of the end.
    pub until: Option<String>,
    /// First poll interval.
    pub poll: Duration,
}

/// Watch until the job ends (or reaches `until`), or `cancel` fires,
/// updating every display of the job in `displays` at each poll.
/// Returns the last record seen, or `None` if cancelled; a job that
/// disappears from its server is an error.
pub async fn watch(
    watch: Watch,
    out: Output,
    cancel: Cancel,
    displays: &JobDisplays,
) -> Result<Option<JobRecord>, MagicError> {
    let mut offset = 0u64;
    let mut log_text = Utf8Stream::default();
    let mut last: Option<JobRecord> = None;
    let mut backoff = Backoff {
        current: watch.poll,
        max: watch.poll.max(Duration::from_secs(5)),
    };
    loop {
        // The log first: reading a job's end may end the machine that holds
        // its log (an EC2 job instance), so what it wrote is read before.
        let reachable = !matches!(&last, Some(r) if matches!(r.status, JobStatus::Unknown(_)));
        if watch.stream_log && reachable {
            offset += stream_log(&watch, offset, &mut log_text, &out).await;
        }
        let server = watch.server.clone();
        let job = watch.job.clone();
        let record = blocking(move || server.watch_record(&job)).await;
        let record = match (record, &last) {
            (Ok(Some(record)), _) => record,
            (Ok(None), _) => return Err(gone(&watch)),
            (Err(MagicError::Crimpl(err)), _)
                if matches!(EngineError::of(&err), Some(EngineError::NotFound(_))) =>
            {
                return Err(gone(&watch));
            }
            // The host may be down for a while: say so and keep watching.
            (Err(MagicError::Crimpl(err)), Some(previous)) => JobRecord {
                status: JobStatus::Unknown(format!("{err:#}")),
                ..previous.clone()
            },
            (Err(err), _) => return Err(err),
        };
        let changed = last.as_ref() != Some(&record);
        displays.seen(watch.server.name(), &record);
        let reached = watch.until.as_deref() == Some(record.status.word());
        if record.status.is_final() || reached {
            // What the job wrote last, where its log can still be read.
            if watch.stream_log {
                stream_log(&watch, offset, &mut log_text, &out).await;
            }
            out.stream(StreamName::Stdout, &log_text.finish());
            return Ok(Some(record));
        }
        last = Some(record);
        let pause = watch.server.poll_pause(backoff.next(changed, watch.poll));
        tokio::select! {
            _ = cancel.cancelled() => return Ok(None),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Stream the next piece of the job's log from `offset` into the cell;
/// returns how many bytes it read (none when the log cannot be read now).
async fn stream_log(watch: &Watch, offset: u64, text: &mut Utf8Stream, out: &Output) -> u64 {
    let server = watch.server.clone();
    let job = watch.job.clone();
    match blocking(move || server.log(&job, LogKind::Job, offset, LOG_CHUNK)).await {
        Ok(bytes) => {
            out.stream(StreamName::Stdout, &text.decode(&bytes));
            bytes.len() as u64
        }
        Err(_) => 0,
    }
}

/// The error ending a watch whose job is no longer on its server.
fn gone(watch: &Watch) -> MagicError {
    MagicError::Crimpl(
        EngineError::NotFound(format!(
            "job {} no longer exists on server {} (was it deleted?)",
            watch.job,
            watch.server.name()
        ))
        .into(),
    )
}

/// Watch `job` in the background until it ends, is deleted, or is unwatched
/// (`%crimpl unwatch`, kernel shutdown); its displays say which.
pub fn watch_in_background(state: &State, server: Arc<Server>, job: &str, out: Output) {
    let displays = state.job_displays();
    let Some(cancel) = displays.start_background(server.name(), job) else {
        return; // already watched
    };
    let watching = Watch {
        server: server.clone(),
        job: job.to_string(),
        stream_log: false,
        until: None,
        poll: Duration::from_millis(500),
    };
    let job = job.to_string();
    tokio::spawn(async move {
        let result = watch(watching, out, cancel.clone(), &displays).await;
        if cancel.is_cancelled() {
            return; // stopped: whoever stopped it said why
        }
        let reason = result.err().map(|err| err.to_string());
        displays.background_ended(server.name(), &job, reason.as_deref());
    });
}

/// A display id for a job's status view.
pub fn display_id(server: &Server, job: &str) -> String {
    format!(
        "crimpl-{}-{}-{}",
        server.name(),
        job,
        uuid::Uuid::new_v4().simple()
    )
}
