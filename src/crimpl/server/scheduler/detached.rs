//! The detached scheduler: the job wrapper runs as a process of its own,
//! outside the session that started it; its status is what it recorded in
//! the job directory and whether its process lives.

use std::time::Duration;

use super::{QueueRead, Scheduler, SchedulerFile, SurveyRequest, TaskStart, sorted, survey_lines};
use crate::crimpl::array::ArraySpec;
use crate::crimpl::job::JobRecord;
use crate::crimpl::scripts::{self, ForeignSignal};
use crate::crimpl::server::options::SubmitOptions;
use crate::crimpl::status::{EndReason, JobStatus};
use crate::crimpl::transport::Transport;

/// Jobs as detached processes (local, SSH and EC2 servers).
pub struct Detached;

impl Scheduler for Detached {
    /// An array's runner starts the tasks marked `pending`, whichever they are.
    fn start_command(
        &self,
        _: Option<&dyn Transport>,
        job_dir: &str,
        _: Option<&TaskStart<'_>>,
    ) -> String {
        scripts::start_detached(job_dir)
    }

    fn kill_command(&self, job_dir: &str) -> String {
        scripts::kill_detached(job_dir)
    }

    fn foreign_signal(&self) -> ForeignSignal {
        ForeignSignal::Cancels
    }

    fn job_file(
        &self,
        _: &str,
        _: &str,
        _: &SubmitOptions,
    ) -> anyhow::Result<Option<SchedulerFile>> {
        Ok(None)
    }

    fn array_runner(
        &self,
        array: &ArraySpec,
        helpers: bool,
        after: Option<&str>,
    ) -> Option<String> {
        Some(scripts::array_runner(array.max_parallel, helpers, after))
    }

    fn poll_floor(&self) -> Duration {
        Duration::ZERO
    }

    fn survey(
        &self,
        transport: &dyn Transport,
        request: &SurveyRequest<'_>,
    ) -> anyhow::Result<(Vec<JobRecord>, Option<QueueRead>)> {
        let command =
            scripts::survey(request.directory, request.pattern, request.other_hosts_gone)?;
        let output = transport.check(&command, None, "reading job statuses")?;
        let records = survey_lines(&String::from_utf8_lossy(&output))
            .into_iter()
            .map(|line| {
                let status = line.detached_status();
                let dependency = line.failed_dependency.clone();
                let mut record = line.into_record(status);
                record.reason = match record.status {
                    JobStatus::Failed(Some(code)) => EndReason::from_exit_code(code),
                    JobStatus::Canceled if !dependency.is_empty() => {
                        Some(EndReason::DependencyFailed(Some(dependency)))
                    }
                    _ => None,
                };
                record
            })
            .collect();
        Ok((sorted(records), None))
    }
}
