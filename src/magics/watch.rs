//! Watching jobs: polling a job's status (and log) on a blocking thread,
//! updating a display in place, streaming new log lines, stopping when the
//! job ends or the watcher is cancelled (which never touches the job).

use std::sync::Arc;
use std::time::Duration;

use super::{Cancel, MagicError, Output, StreamName, View, render};
use crate::crimpl::{JobRecord, JobStatus, Server};

/// Run blocking engine work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, MagicError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| MagicError::Crimpl(anyhow::anyhow!("engine task failed: {e}")))?
        .map_err(MagicError::Crimpl)
}

/// The most bytes of a job's log read (and shown) in one piece.
pub const LOG_CHUNK: u64 = 4 << 20;

/// A progress callback that prints each line into the cell.
pub fn progress_to(out: &Output) -> impl Fn(&str) + Send + Sync + 'static {
    let out = out.clone();
    move |line: &str| out.stream(StreamName::Stdout, &format!("{line}\n"))
}

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

/// What a watch should do besides updating the status display.
pub struct Watch {
    /// The server holding the job.
    pub server: Arc<Server>,
    /// The job.
    pub job: String,
    /// The display id of the status view.
    pub display_id: String,
    /// Stream new log lines under the display.
    pub stream_log: bool,
    /// Stop at this status word instead of the end.
    pub until: Option<String>,
    /// First poll interval.
    pub poll: Duration,
}

/// Watch until the job ends (or reaches `until`), or `cancel` fires.
/// Returns the last record seen, or `None` if cancelled.
pub async fn watch(
    watch: Watch,
    out: Output,
    cancel: Cancel,
) -> Result<Option<JobRecord>, MagicError> {
    let mut offset = 0u64;
    let mut last: Option<JobRecord> = None;
    let mut backoff = Backoff {
        current: watch.poll,
        max: watch.poll.max(Duration::from_secs(5)),
    };
    loop {
        let server = watch.server.clone();
        let job = watch.job.clone();
        let record = blocking(move || server.job(&job)).await;
        let record = match (record, &last) {
            (Ok(record), _) => record,
            // The host may be down for a while: say so and keep watching.
            (Err(MagicError::Crimpl(err)), Some(previous)) => JobRecord {
                status: JobStatus::Unknown(format!("{err:#}")),
                ..previous.clone()
            },
            (Err(err), _) => return Err(err),
        };
        if watch.stream_log && !matches!(record.status, JobStatus::Unknown(_)) {
            let server = watch.server.clone();
            let job = watch.job.clone();
            if let Ok(bytes) = blocking(move || server.log(&job, offset, LOG_CHUNK)).await {
                offset += bytes.len() as u64;
                out.stream(StreamName::Stdout, &String::from_utf8_lossy(&bytes));
            }
        }
        let changed = last.as_ref() != Some(&record);
        if changed {
            out.update_display(&status_view(&watch.server, &record), &watch.display_id);
        }
        let reached = watch.until.as_deref() == Some(record.status.word());
        if record.status.is_final() || reached {
            return Ok(Some(record));
        }
        last = Some(record);
        let pause = backoff.next(changed, watch.poll);
        tokio::select! {
            _ = cancel.cancelled() => return Ok(None),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// The status view of a record on `server`.
pub fn status_view(server: &Server, record: &JobRecord) -> View {
    render::job_status(server.name(), record, render::watch_note(&record.status))
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
