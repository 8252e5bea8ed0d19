//! Ending a job (kill) and running it again (resubmit; an array's tasks that
//! did not complete).

use std::io::Write;

use anyhow::{Context, bail};

use super::Server;
use super::scheduler::TaskStart;
use crate::crimpl::error::EngineError;
use crate::crimpl::job::{JobRecord, KillOutcome};
use crate::crimpl::layout::{TASK_DIR_PREFIX, WRAPPER};
use crate::crimpl::scripts;
use crate::crimpl::status::JobStatus;
use crate::crimpl::transport::StdinFeed;

impl Server {
    /// Kill the job; it ends `canceled`. Only the job's own processes are
    /// signalled: see [`KillOutcome`] for when nothing is.
    pub fn kill(&self, job: &str) -> anyhow::Result<KillOutcome> {
        let job_dir = self.job_dir(job)?;
        let command = self.scheduler.kill_command(&job_dir);
        let said = self
            .transport(false, &|_| {})?
            .check(&command, None, &format!("killing job {job:?}"))
            .map_err(|err| self.unless_missing(job, err))?;
        self.poller.forget();
        Ok(KillOutcome::parse(&String::from_utf8_lossy(&said)))
    }

    /// Whether a job can be started again in its directory here (see [`Self::resubmit`]).
    pub fn can_resubmit(&self) -> bool {
        self.placement.resubmit_refusal().is_none()
    }

    /// Start the job's script again, in the same directory (after it
    /// ended); an array's tasks, all of them or, with `only_failed`, those
    /// that did not complete. Returns how many tasks run again (0 for a
    /// single job).
    pub fn resubmit(&self, job: &str, only_failed: bool) -> anyhow::Result<usize> {
        if let Some(refusal) = self.placement.resubmit_refusal() {
            bail!(EngineError::Usage(refusal.into()));
        }
        let record = self.job(job)?;
        if !record.status.is_final() && record.status != JobStatus::NotSubmitted {
            bail!(
                "job {job:?} is {}: wait for it to end, or kill it first",
                record.status
            );
        }
        let job_dir = self.job_dir(job)?;
        let tasks = if record.tasks.is_empty() {
            if only_failed {
                bail!(EngineError::Usage(format!(
                    "job {job:?} is not an array: --failed applies to an array's tasks"
                )));
            }
            self.restart_single(job, &job_dir)?;
            0
        } else {
            self.resubmit_tasks(job, &job_dir, &record, only_failed)?
        };
        let why = match tasks {
            0 => "run again".to_string(),
            n if only_failed => format!("resumed: {n} task(s) that did not complete"),
            n => format!("run again: all {n} tasks"),
        };
        self.record_attempt(job, &why, record.shown())
            .with_context(|| {
                format!("job {job:?} runs again, but its manifest could not say so")
            })?;
        Ok(tasks)
    }

    /// Start a single job's script again in its directory.
    fn restart_single(&self, job: &str, job_dir: &str) -> anyhow::Result<()> {
        // A job created by crimpl 0.2.0 has no wrapper yet: add ours.
        let transport = self.transport(false, &|_| {})?;
        let install_wrapper = format!(
            "cd {job_dir} && cat > {WRAPPER}.tmp && mv -f {WRAPPER}.tmp {WRAPPER} && {}",
            self.scheduler
                .start_command(Some(transport.as_ref()), ".", None)
        );
        let wrapper = scripts::wrapper_script(None, self.scheduler.foreign_signal());
        let feed: StdinFeed<'_> =
            Box::new(move |w: &mut dyn Write| w.write_all(wrapper.as_bytes()));
        transport.check(
            &install_wrapper,
            Some(feed),
            &format!("resubmitting job {job:?}"),
        )?;
        self.poller.forget();
        Ok(())
    }

    /// Run an array's tasks again (those that did not complete, with
    /// `only_failed`): they read `pending` again and the scheduler starts them.
    fn resubmit_tasks(
        &self,
        job: &str,
        job_dir: &str,
        record: &JobRecord,
        only_failed: bool,
    ) -> anyhow::Result<usize> {
        let again: Vec<&JobRecord> = record
            .tasks
            .iter()
            .filter(|t| !only_failed || t.status != JobStatus::Complete)
            .collect();
        if again.is_empty() {
            bail!(EngineError::Usage(format!(
                "every task of array {job:?} completed: nothing to run again"
            )));
        }
        let dirs: Vec<&str> = again.iter().map(|t| t.name.as_str()).collect();
        let mut ids: Vec<u64> = dirs
            .iter()
            .filter_map(|d| d.strip_prefix(TASK_DIR_PREFIX)?.parse().ok())
            .collect();
        ids.sort_unstable();
        let transport = self.transport(false, &|_| {})?;
        let start = TaskStart {
            ids: &ids,
            max_parallel: None,
            all: false,
        };
        let command = format!(
            "cd {job_dir} && {} && {}",
            scripts::reset_tasks(&dirs)?,
            self.scheduler
                .start_command(Some(transport.as_ref()), ".", Some(&start))
        );
        transport.check(&command, None, &format!("resubmitting array {job:?}"))?;
        self.poller.forget();
        Ok(again.len())
    }
}
