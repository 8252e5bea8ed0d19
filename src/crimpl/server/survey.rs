//! Reading jobs' states: one survey of the server directory (joined with
//! the scheduler's own word), shared with every watcher through the poller.

use super::Server;
use super::poller::Turn;
use super::scheduler::{QueueRead, SurveyRequest};
use crate::crimpl::error::EngineError;
use crate::crimpl::job::JobRecord;
use crate::crimpl::layout;
use crate::crimpl::suggest;

impl Server {
    /// Every job on the server with its status: one remote command.
    pub fn jobs(&self) -> anyhow::Result<Vec<JobRecord>> {
        self.survey_now(&format!("{}*", layout::JOB_DIR_PREFIX))
    }

    /// One job's record; an error names the jobs that exist if it is not found.
    pub fn job(&self, job: &str) -> anyhow::Result<JobRecord> {
        self.find_job(job)?.ok_or_else(|| self.no_such_job(job))
    }

    /// "No such job", naming the existing jobs closest to `job` (one more
    /// survey, on this error path only).
    pub(super) fn no_such_job(&self, job: &str) -> anyhow::Error {
        let names: Vec<String> = self
            .jobs()
            .map(|records| records.into_iter().map(|r| r.name).collect())
            .unwrap_or_default();
        EngineError::NotFound(format!(
            "no job {job:?} on server {}{}: %crimpl jobs lists them",
            self.name,
            suggest::did_you_mean(job, names.iter().map(String::as_str))
        ))
        .into()
    }

    /// `err` of an operation on `job`, or "no such job" if that is why it failed.
    pub(super) fn unless_missing(&self, job: &str, err: anyhow::Error) -> anyhow::Error {
        match self.find_job(job) {
            Ok(None) => self.no_such_job(job),
            _ => err,
        }
    }

    /// The record of `job`, or `None` if the server has no such job (it was
    /// deleted, or never existed). Where a missing job proves nothing (AWS
    /// with no instance to read the volume) that is an error, not `None`.
    pub fn find_job(&self, job: &str) -> anyhow::Result<Option<JobRecord>> {
        layout::validate_job_name(job)?;
        let records = self.survey_now(&layout::job_dir_name(job))?;
        self.found(job, records.into_iter().find(|r| r.name == job))
    }

    /// `record` of `job` from a survey, or why its absence proves nothing.
    pub(super) fn found(
        &self,
        job: &str,
        record: Option<JobRecord>,
    ) -> anyhow::Result<Option<JobRecord>> {
        match (record, self.placement.unproven_missing(&self.name, job)) {
            (Some(record), _) => Ok(Some(record)),
            (None, Some(err)) => Err(err),
            (None, None) => Ok(None),
        }
    }

    /// Survey the jobs matching `pattern` now, and leave a queue read on
    /// the way for the watchers to reuse.
    pub(super) fn survey_now(&self, pattern: &str) -> anyhow::Result<Vec<JobRecord>> {
        let (records, queue) = self.survey(pattern, None)?;
        if let Some(queue) = queue {
            self.poller.queue_read(&queue);
        }
        Ok(records)
    }

    /// The jobs matching `pattern`: the scheduler reads them wherever the
    /// placement reaches them (with `cached`, the scheduler's queue is not
    /// read again); and the queue, when it was read afresh.
    pub(super) fn survey(
        &self,
        pattern: &str,
        cached: Option<&QueueRead>,
    ) -> anyhow::Result<(Vec<JobRecord>, Option<QueueRead>)> {
        let mut queue = None;
        let records = self
            .placement
            .survey(pattern, &mut |transport, other_hosts_gone| {
                let request = SurveyRequest {
                    directory: self.directory(),
                    pattern,
                    other_hosts_gone,
                    cached,
                };
                let (records, fresh) = self.scheduler.survey(transport, &request)?;
                queue = fresh;
                Ok(records)
            })?;
        Ok((records, queue))
    }

    /// How long a watcher waiting `wanted` between polls pauses now: a
    /// little longer, so that all the server's watchers poll together.
    pub fn poll_pause(&self, wanted: std::time::Duration) -> std::time::Duration {
        self.poller.pause(wanted)
    }

    /// The record of a watched job, through the server's one [`Poller`]:
    /// however many jobs are watched, one survey of the job directories per
    /// second and, on Slurm, one `squeue` per floor interval
    /// (`poll_floor_seconds`, default 30 s). `None` if there is no such job.
    pub fn watch_record(&self, job: &str) -> anyhow::Result<Option<JobRecord>> {
        let (queue, ticket) = match self.poller.turn(job, self.scheduler.poll_floor()) {
            Turn::Cached(record) => return Ok(Some(record)),
            Turn::Poll(queue, ticket) => (queue, ticket),
        };
        let pattern = format!("{}*", layout::JOB_DIR_PREFIX);
        match self.survey(&pattern, queue.as_ref()) {
            Ok((records, queue)) => {
                let found = records.iter().find(|r| r.name == job).cloned();
                self.poller.polled(ticket, Ok((records, queue)));
                self.found(job, found)
            }
            Err(err) => {
                self.poller.polled(ticket, Err(format!("{err:#}")));
                Err(err)
            }
        }
    }
}
