//! What an AWS server adds to a survey of its jobs: the ends recorded on
//! the volume's tags and on this machine when no instance runs, why a lost
//! job's instance ended (EC2's word), and, when a job instance's job has
//! ended, the end of its log kept here and the instance ended.

use super::Instance;
use super::server::AwsServer;
use crate::crimpl::job::JobRecord;
use crate::crimpl::kept_log::{KEPT_BYTES, KeptLog};
use crate::crimpl::scripts;
use crate::crimpl::status::{EndReason, JobStatus};
use crate::crimpl::transport::Transport;

impl AwsServer {
    /// The jobs `wanted` keeps, when no instance runs to read the volume:
    /// as the volume's tags say each ended, with this machine's record where
    /// it agrees (times, exit codes, an array's tasks) and the ends older
    /// than the tags keep.
    pub(crate) fn recorded_records(
        &self,
        wanted: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Vec<JobRecord>> {
        let mut known = self.last_known()?.records();
        let mut records: Vec<JobRecord> = self
            .recorded_statuses()?
            .into_iter()
            .filter(|(name, _)| wanted(name))
            .map(|(name, word)| {
                match known
                    .iter()
                    .position(|k| k.name == name && k.status.word() == word)
                {
                    Some(at) => known.swap_remove(at),
                    None => JobRecord::new(
                        &name,
                        JobStatus::from_word(&word).unwrap_or(JobStatus::Unknown(word)),
                    ),
                }
            })
            .collect();
        for known in known {
            if wanted(&known.name) && !records.iter().any(|r| r.name == known.name) {
                records.push(known);
            }
        }
        Ok(records)
    }

    /// After a survey through `holder`: a job instance whose job has ended
    /// (only the holder can be one still running) keeps the end of its log
    /// here first (it cannot grow), ends a sweep's helpers, and is ended;
    /// the ends seen are remembered on this machine.
    pub(crate) fn after_survey(
        &self,
        holder: &Instance,
        transport: &dyn Transport,
        records: &[JobRecord],
    ) -> anyhow::Result<()> {
        // Only the holder can be a job instance still running: end it if
        // its job has, keeping the end of its log first (it cannot grow).
        if let Some(ended) = records
            .iter()
            .find(|r| r.status.is_final() && holder.ends_with() == Some(r.name.as_str()))
        {
            if let Err(err) = self.keep_log(transport, &ended.name) {
                eprintln!(
                    "[crimpl] could not keep the log of job {} on this machine (it stays on the volume): {err:#}",
                    ended.name
                );
            }
            if !ended.tasks.is_empty() {
                // A sweep's helpers end with it (one more call, for sweeps only).
                self.end_helpers(&ended.name)?;
            }
            self.end_job(holder, ended.status.word())?;
        }
        // A record this machine cannot write must not fail the survey: the volume has the truth.
        if let Err(err) = self.last_known().and_then(|known| known.remember(records)) {
            eprintln!("[crimpl] could not remember the jobs' ends on this machine: {err:#}");
        }
        Ok(())
    }

    /// Say why the lost jobs were lost when their instances ended under
    /// them (EC2's reason: a spot interruption, a stop or terminate from
    /// elsewhere). Not for a job whose end the kernel recorded on the
    /// volume's tags: the kernel ended that instance after the job's end.
    pub(crate) fn explain_lost(&self, records: &mut [JobRecord]) {
        let mut lost: Vec<String> = records
            .iter()
            .filter(|r| r.status == JobStatus::Lost && r.reason.is_none())
            .map(|r| r.name.clone())
            .collect();
        if lost.is_empty() {
            return;
        }
        match self.recorded_statuses() {
            Ok(recorded) => lost.retain(|job| !recorded.iter().any(|(name, _)| name == job)),
            Err(err) => {
                eprintln!("[crimpl] could not read the volume's recorded job ends: {err:#}");
                return;
            }
        }
        match self.job_instance_ends(&lost) {
            Ok(ends) => {
                for (job, what) in ends {
                    if let Some(record) = records.iter_mut().find(|r| r.name == job) {
                        record.reason = Some(EndReason::MachineEnded(what));
                    }
                }
            }
            Err(err) => eprintln!("[crimpl] could not ask EC2 why jobs were lost: {err:#}"),
        }
    }

    /// Keep the end of `job`'s log on this machine, before its instance ends.
    pub(crate) fn keep_log(&self, transport: &dyn Transport, job: &str) -> anyhow::Result<()> {
        let job_dir = scripts::job_dir_word(&self.config().instances.directory, job)?;
        let said = transport.check(
            &scripts::log_end(&job_dir, KEPT_BYTES),
            None,
            "reading the end of the job log",
        )?;
        self.kept_logs()?
            .keep(job, &KeptLog::from_size_and_tail(&said)?)
    }
}
