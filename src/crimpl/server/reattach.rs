//! A named submit whose job exists already: the job's manifest says whether
//! it runs what the cell sends. The same digest reattaches (reused when it
//! completed, followed while it runs, what did not complete run again); a
//! different one is refused with what changed, unless `--replace` asks to
//! replace the job. So a notebook that names its jobs can run again.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::Server;
use super::manifests::Stored;
use super::options::{ExistingJob, SubmitOptions};
use crate::crimpl::error::EngineError;
use crate::crimpl::layout::{SUBMIT_SCRIPT, SUBMITTING_LOCK};
use crate::crimpl::manifest::Manifest;
use crate::crimpl::status::JobStatus;

/// What a submit did.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The job's name.
    pub job: String,
    /// New, reattached, resumed, ...
    pub outcome: SubmitOutcome,
}

/// How a submit met the job of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// A new job.
    New,
    /// The same job completed earlier: nothing ran.
    Reused,
    /// The same job is pending or running: it is followed.
    Following,
    /// The same job ended without completing: it runs again (an array:
    /// `tasks` tasks that did not complete), after it had ended `after`.
    Resumed {
        /// Tasks run again (0 for a single job).
        tasks: usize,
        /// How it had ended.
        after: String,
    },
    /// `--rerun`: the same job runs again (`tasks` tasks for an array).
    Rerun {
        /// Tasks run again (0 for a single job).
        tasks: usize,
    },
    /// An earlier submit of the same job was cut short before it started:
    /// what it left was cleared and the job submitted again.
    Finished,
    /// `--replace`: the old job was stopped and removed (these of its files
    /// first, and `more` others), and this one submitted.
    Replaced {
        /// The first of the removed files, by path.
        removed: Vec<String>,
        /// How many more were removed.
        more: usize,
    },
}

/// What to do about an existing job before placing a new one.
pub(super) enum Reattach {
    /// Nothing more to place: the existing job serves.
    Done(SubmitOutcome),
    /// Place the job, then report this.
    Place(SubmitOutcome),
}

/// How many removed files `--replace` names.
const REMOVED_SHOWN: usize = 20;
/// Exit code of the removal when a submit of the job is under way.
const BUSY: i32 = 75;
/// How long `--rerun` waits for a running job it killed to end.
const KILL_WAIT: Duration = Duration::from_secs(60);

impl Server {
    /// Meet the existing job `job`, if there is one, as `options.existing` says.
    pub(super) fn reattach(
        &self,
        job: &str,
        script: &str,
        new: &Manifest,
        options: &SubmitOptions,
    ) -> anyhow::Result<Reattach> {
        let stored = match self.stored_manifest(job) {
            Ok(stored) => stored,
            // AWS with no instance up: the submit's own launch reaches the
            // volume, and an existing job is refused there as before.
            Err(_) if self.aws().is_some() => return Ok(Reattach::Place(SubmitOutcome::New)),
            Err(err) => return Err(err),
        };
        let old = match (stored, options.existing) {
            (Stored::NoJob, _) => return Ok(Reattach::Place(SubmitOutcome::New)),
            (_, ExistingJob::Replace) => return self.replace(job),
            (Stored::NoManifest, ExistingJob::Rerun) => {
                let tasks = self.run_again(job, false)?;
                return Ok(Reattach::Done(SubmitOutcome::Rerun { tasks }));
            }
            (Stored::NoManifest, ExistingJob::Reattach) => bail!(EngineError::Exists(format!(
                "job {job:?} exists already on {}, made before jobs kept a manifest, so whether \
                 it ran this script cannot be told: add --rerun to run it again as it is, \
                 --replace to remove it and submit this cell, or choose another --job name",
                self.name
            ))),
            (Stored::Manifest(old), _) => old,
        };
        if old.digest != new.digest {
            let old_script = self.old_script(job).ok();
            let changes = old.changes(new, old_script.as_deref(), script);
            bail!(EngineError::Exists(format!(
                "job {job:?} exists already on {} with another script, inputs or options:\n{}\n\
                 Choose another --job name, or add --replace to stop and remove the old job \
                 and submit this cell.",
                self.name,
                changes
                    .iter()
                    .map(|c| format!("  - {c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
        let record = self.job(job)?;
        let rerun = options.existing == ExistingJob::Rerun;
        Ok(match &record.status {
            JobStatus::NotSubmitted => {
                // Only what the cut-short submit sent is there.
                self.remove_job(job)?;
                Reattach::Place(SubmitOutcome::Finished)
            }
            JobStatus::Unknown(reason) => bail!(
                "job {job:?} exists on {}, but its state cannot be read now ({reason}): \
                 run the cell again later",
                self.name
            ),
            JobStatus::Complete if !rerun => Reattach::Done(SubmitOutcome::Reused),
            status if !status.is_final() && !rerun => Reattach::Done(SubmitOutcome::Following),
            status if !status.is_final() => {
                self.kill(job)?;
                self.wait_until_ended(job)?;
                let tasks = self.run_again(job, false)?;
                Reattach::Done(SubmitOutcome::Rerun { tasks })
            }
            _ if rerun => {
                let tasks = self.run_again(job, false)?;
                Reattach::Done(SubmitOutcome::Rerun { tasks })
            }
            _ => {
                let after = record.shown();
                let tasks = self.run_again(job, !record.tasks.is_empty())?;
                Reattach::Done(SubmitOutcome::Resumed { tasks, after })
            }
        })
    }

    /// Run the ended job `job` again in its directory (an array: with
    /// `only_failed`, its tasks that did not complete), said in the manifest.
    fn run_again(&self, job: &str, only_failed: bool) -> anyhow::Result<usize> {
        if let Some(refusal) = self.placement.resubmit_refusal() {
            bail!(EngineError::Exists(format!(
                "job {job:?} exists already on {} and cannot run again in its directory ({refusal}): \
                 add --replace to remove it and submit this cell, or choose another --job name",
                self.name
            )));
        }
        self.resubmit(job, only_failed)
    }

    /// Wait (bounded) for a job just killed to read as ended.
    fn wait_until_ended(&self, job: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + KILL_WAIT;
        loop {
            let record = self.job(job)?;
            if record.status.is_final() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "job {job:?} was killed but still reads {} after {} s: wait for it to end, then run the cell again",
                    record.shown(),
                    KILL_WAIT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `--replace`: stop the job if it runs and remove its directory.
    fn replace(&self, job: &str) -> anyhow::Result<Reattach> {
        let record = self.job(job)?;
        if !record.status.is_final() && record.status != JobStatus::NotSubmitted {
            self.kill(job)?;
        }
        let (removed, more) = self.remove_job(job)?;
        Ok(Reattach::Place(SubmitOutcome::Replaced { removed, more }))
    }

    /// Remove job `job`'s directory; the first of the job's own files it
    /// held (not crimpl's), and how many more.
    pub(super) fn remove_job(&self, job: &str) -> anyhow::Result<(Vec<String>, usize)> {
        let listing = self.ls(job, None, false)?;
        let files: Vec<String> = listing
            .files
            .into_iter()
            .filter(|f| !f.is_dir && !crate::crimpl::layout::is_own_file(file_name(&f.path)))
            .map(|f| f.path)
            .collect();
        let more = files.len().saturating_sub(REMOVED_SHOWN);
        let job_dir = self.job_dir(job)?;
        let command = format!(
            "cd {job_dir} 2>/dev/null || exit 0; \
             if command -v flock >/dev/null 2>&1 && ! flock -n {SUBMITTING_LOCK} true; then exit {BUSY}; fi; \
             rm -rf {job_dir}"
        );
        let captured = self.transport(false, &|_| {})?.capture(&command, None)?;
        match captured.finished.code {
            Some(0) => {}
            Some(BUSY) => bail!(EngineError::Exists(format!(
                "job {job:?} on {} is being submitted by another kernel right now: run the cell \
                 again once that submit has ended",
                self.name
            ))),
            _ => bail!(
                "removing job {job:?} failed on server {}: {}",
                self.name,
                captured.finished.stderr.trim()
            ),
        }
        self.poller.forget();
        Ok((files.into_iter().take(REMOVED_SHOWN).collect(), more))
    }

    /// The script job `job` ran.
    fn old_script(&self, job: &str) -> anyhow::Result<String> {
        let command = format!("cat {}/{SUBMIT_SCRIPT}", self.job_dir(job)?);
        let said =
            self.transport(false, &|_| {})?
                .check(&command, None, "reading the job's script")?;
        Ok(String::from_utf8_lossy(&said).into_owned())
    }
}

/// The last part of a path in the job directory.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
