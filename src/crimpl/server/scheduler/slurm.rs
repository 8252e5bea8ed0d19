//! The Slurm scheduler: the job wrapper runs inside a batch script given to
//! `sbatch`; a status joins the wrapper's record with one `squeue` (and, for
//! a job that left the queue without a recorded end, what Slurm said of it).

use std::sync::Mutex;
use std::time::Duration;

use super::{QueueRead, Scheduler, SchedulerFile, SurveyRequest, TaskStart, sorted, survey_lines};
use crate::crimpl::array::ArraySpec;
use crate::crimpl::job::{JobRecord, SurveyLine};
use crate::crimpl::lost::LostGrace;
use crate::crimpl::scripts::{self, ForeignSignal};
use crate::crimpl::server::options::SubmitOptions;
use crate::crimpl::slurm::{
    self, ArrayStart, Queue, SLURM_FLOOR_SECONDS, SiteLimits, SlurmDefaults,
};
use crate::crimpl::status::JobStatus;
use crate::crimpl::transport::Transport;

/// Jobs submitted with `sbatch` on a Slurm cluster.
pub struct Slurm {
    mail_user: Option<String>,
    defaults: SlurmDefaults,
    poll_floor: Duration,
    login_shell: bool,
    grace: LostGrace,
    /// The site's limits, read once (see [`Self::site_limits`]).
    limits: Mutex<Option<SiteLimits>>,
}

impl Slurm {
    /// A Slurm scheduler with the server's settings.
    pub fn new(
        mail_user: Option<String>,
        defaults: SlurmDefaults,
        poll_floor_seconds: Option<u64>,
        login_shell: bool,
    ) -> Self {
        Self {
            mail_user,
            defaults,
            poll_floor: Duration::from_secs(poll_floor_seconds.unwrap_or(SLURM_FLOOR_SECONDS)),
            login_shell,
            grace: LostGrace::default(),
            limits: Mutex::new(None),
        }
    }

    /// The site's limits: read through `transport` the first time (a read
    /// that fails is not kept, and Slurm's defaults apply meanwhile), then
    /// remembered for the server's life. Without a transport, what was read.
    fn site_limits(&self, transport: Option<&dyn Transport>) -> Option<SiteLimits> {
        let mut cached = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if cached.is_none()
            && let Some(transport) = transport
            && let Ok(said) =
                transport.check(slurm::LIMITS_COMMAND, None, "reading the site's limits")
        {
            let limits = slurm::parse_limits(&String::from_utf8_lossy(&said));
            if limits.max_array_size.is_some() {
                *cached = Some(limits);
            }
        }
        cached.clone()
    }

    /// Learn and save how jobs ended where their records do not say yet
    /// (one more command, only when some job needs it). A failure here
    /// leaves the statuses as the survey read them.
    fn learn_ends(
        &self,
        transport: &dyn Transport,
        directory: &str,
        lines: &mut [SurveyLine],
        queue: &Queue,
    ) {
        let Some(command) = slurm::follow_up(directory, lines, queue) else {
            return;
        };
        let Ok(said) = transport.check(&command, None, "reading how jobs ended") else {
            return;
        };
        for saved in String::from_utf8_lossy(&said).lines() {
            if let Some((name, evidence)) = saved.split_once('\t')
                && let Some(line) = lines.iter_mut().find(|l| l.name == name)
            {
                line.evidence = evidence.to_string();
            }
        }
    }
}

impl Scheduler for Slurm {
    /// A sweep whose ids reach the site's `MaxArraySize` is submitted as
    /// several Slurm arrays (see [`slurm::start`]).
    fn start_command(
        &self,
        transport: Option<&dyn Transport>,
        job_dir: &str,
        tasks: Option<&TaskStart<'_>>,
    ) -> String {
        let Some(tasks) = tasks else {
            return slurm::start(job_dir, None);
        };
        let size = match self.site_limits(transport) {
            Some(limits) => limits.array_size(),
            // Not read (a trial run): as one array, as sbatch would be asked.
            None if transport.is_none() => u64::MAX,
            None => slurm::DEFAULT_MAX_ARRAY_SIZE,
        };
        let pieces = slurm::pieces(tasks.ids, size);
        slurm::start(
            job_dir,
            Some(&ArrayStart {
                pieces: &pieces,
                max_parallel: tasks.max_parallel,
                all: tasks.all,
            }),
        )
    }

    /// A policy refusal with Slurm's words, the site's limit and the option to change.
    fn refusal(
        &self,
        transport: &dyn Transport,
        said: &str,
        options: &SubmitOptions,
    ) -> Option<String> {
        let asked = slurm::Asked {
            options: &options.slurm,
            defaults: &self.defaults,
        };
        // Only a policy refusal needs the site's limits.
        slurm::explain_refusal(said, &asked, None)?;
        let limits = self.site_limits(Some(transport));
        slurm::explain_refusal(said, &asked, limits.as_ref())
    }

    fn kill_command(&self, job_dir: &str) -> String {
        slurm::kill(job_dir)
    }

    /// Under Slurm a signal may be a requeue, so Slurm has the last word.
    fn foreign_signal(&self) -> ForeignSignal {
        ForeignSignal::Interrupts
    }

    fn job_file(
        &self,
        job: &str,
        script: &str,
        options: &SubmitOptions,
    ) -> anyhow::Result<Option<SchedulerFile>> {
        let batch = slurm::batch_script(&slurm::BatchRequest {
            job,
            nprocs: options.nprocs,
            options: &options.slurm,
            defaults: &self.defaults,
            mail_user: self.mail_user.as_deref(),
            body: script,
            login_shell: self.login_shell,
            array: options.array.as_ref(),
        })?;
        Ok(Some(SchedulerFile {
            name: slurm::BATCH_SCRIPT,
            text: batch.text,
            notes: batch.notes,
        }))
    }

    /// Slurm runs each task itself: `sbatch --array`.
    fn array_runner(&self, _: &ArraySpec, _: bool, _: Option<&str>) -> Option<String> {
        None
    }

    fn poll_floor(&self) -> Duration {
        self.poll_floor
    }

    fn survey(
        &self,
        transport: &dyn Transport,
        request: &SurveyRequest<'_>,
    ) -> anyhow::Result<(Vec<JobRecord>, Option<QueueRead>)> {
        let survey = scripts::survey(request.directory, request.pattern, request.other_hosts_gone)?;
        let directory = scripts::directory_word(request.directory)?;
        let cached = request.cached.and_then(QueueRead::get::<Queue>);
        // The queue is read first: a job that leaves the queue after that
        // has already written its end, which the survey then sees.
        let command = match cached {
            Some(_) => survey,
            None => format!(
                "{}\necho {}\n{survey}",
                slurm::queue_command(&directory),
                slurm::QUEUE_MARKER
            ),
        };
        let output = transport.check(&command, None, "reading job statuses")?;
        let text = String::from_utf8_lossy(&output);
        let (fresh, survey) = match text.split_once(&format!("{}\n", slurm::QUEUE_MARKER)) {
            Some((queue, survey)) if cached.is_none() => (Some(slurm::parse_queue(queue)), survey),
            _ => (None, text.as_ref()),
        };
        let mut lines = survey_lines(survey);
        if let Some(queue) = &fresh {
            self.learn_ends(transport, &directory, &mut lines, queue);
        }
        let queue = fresh.as_ref().or(cached);
        let records = lines
            .into_iter()
            .map(|line| match queue {
                // An array reads as its tasks do (see `array::nest_tasks`).
                _ if line.array => line.into_record(JobStatus::Pending(None)),
                // A job the cached queue read did not know yet reads as its files say.
                Some(queue) if cached.is_some() && queue.is_ok() && !slurm::knows(queue, &line) => {
                    let status = JobStatus::from_word(&line.status).unwrap_or(JobStatus::Starting);
                    line.into_record(status)
                }
                Some(queue) => {
                    let (status, reason) = slurm::status(&line, queue);
                    let status = self.grace.check(&line.name, status);
                    let mut record = line.into_record(status);
                    record.reason = reason;
                    record
                }
                // No queue was read (its command ended the shell): the files say.
                None => {
                    let status = line.detached_status();
                    line.into_record(status)
                }
            })
            .collect();
        Ok((sorted(records), fresh.map(QueueRead::new)))
    }
}
