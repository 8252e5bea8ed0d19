//! A server and the operations on its jobs: crimpl's object model
//! (`run_script`, `submit_script`, `job_status`, `existing_jobs`,
//! `check_output`, `kill_job`, `resubmit_script`) over a [`Transport`].
//!
//! Every operation is a single remote command where it can be: a submit
//! sends the script, the wrapper and the files as one tar stream into the
//! command that creates the job and starts it; the status of every job is
//! one survey of the server directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::aws::{self, AwsServer, Progress};
use super::config::ServerConfig;
use super::error::EngineError;
use super::job::{FileRole, JobFile, JobRecord, KillOutcome, Listing, SurveyLine, read_listing};
use super::layout::{self, INPUT_LIST, SUBMIT_SCRIPT, WRAPPER};
use super::login_shell::LoginShell;
use super::lost::LostGrace;
use super::option_kinds;
use super::poller::{Poller, SLURM_FLOOR_SECONDS, Turn};
use super::scripts;
use super::slurm::{self, SlurmOptions};
use super::status::JobStatus;
use super::suggest;
use super::transport::{HostKeyPolicy, LocalTransport, SshTransport, StdinFeed, Stop, Transport};
use super::unpack::{self, FetchReport, UnpackPolicy};
use tokio_util::sync::CancellationToken;

/// What to submit besides the script.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// The job's name (default: from the date and time).
    pub job: Option<String>,
    /// Local files (or directories) sent into the job directory.
    pub files: Vec<PathBuf>,
    /// Processors to ask for (Slurm tasks).
    pub nprocs: Option<u32>,
    /// Slurm's own options.
    pub slurm: SlurmOptions,
    /// AWS: the instance type (default: by `nprocs`).
    pub instance_type: Option<String>,
    /// AWS: the image (default: the server's pinned image).
    pub image_id: Option<String>,
    /// AWS: keep the job's instance when the script ends.
    pub keep_instance: bool,
}

/// What a `--trial-run` shows: exactly what would be sent and run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where it would run.
    pub target: String,
    /// The remote command(s), in order.
    pub commands: Vec<String>,
    /// Files that would be sent: name in the job directory and size.
    pub uploads: Vec<(String, u64)>,
    /// Scripts that would be written, by name.
    pub scripts: Vec<(String, String)>,
}

/// A named server, with its open transport.
pub struct Server {
    name: String,
    config: ServerConfig,
    backend: Backend,
    grace: LostGrace,
    poller: Poller,
}

/// Where a server's commands run.
enum Backend {
    /// This machine, or one SSH host (`ssh` is set for SSH kinds).
    Fixed {
        transport: Arc<dyn Transport>,
        ssh: Option<Arc<SshTransport>>,
    },
    /// Whichever EC2 instance holds the volume.
    Aws(Box<AwsServer>),
}

impl Server {
    /// A server called `name` with `config`; SSH kinds connect on first use.
    pub fn open(name: &str, config: ServerConfig) -> anyhow::Result<Self> {
        let backend = match &config {
            ServerConfig::Local { .. } => Backend::Fixed {
                transport: Arc::new(LocalTransport),
                ssh: None,
            },
            ServerConfig::Ssh { host, jump, .. } | ServerConfig::Slurm { host, jump, .. } => {
                let ssh = Arc::new(SshTransport::new(host, jump.as_deref())?);
                let transport: Arc<dyn Transport> = if config.login_shell() {
                    Arc::new(LoginShell::new(ssh.clone()))
                } else {
                    ssh.clone()
                };
                Backend::Fixed {
                    transport,
                    ssh: Some(ssh),
                }
            }
            ServerConfig::Aws(aws) => Backend::Aws(Box::new(AwsServer::new(name, aws.clone())?)),
        };
        Ok(Self {
            name: name.into(),
            config,
            backend,
            grace: LostGrace::default(),
            poller: Poller::default(),
        })
    }

    /// Record the SSH host's key in known_hosts if its fingerprint is
    /// `fingerprint` (which the user compared with the host's own).
    pub fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()> {
        let ssh = match &self.backend {
            Backend::Aws(aws) => return aws.trust_host_key(fingerprint),
            Backend::Fixed { ssh: Some(ssh), .. } => ssh,
            Backend::Fixed { ssh: None, .. } => {
                bail!(
                    "server {} is this machine: it has no host key to trust",
                    self.name
                )
            }
        };
        ssh.set_policy(HostKeyPolicy::TrustFingerprint(fingerprint.into()));
        let result = ssh.reconnect();
        ssh.set_policy(HostKeyPolicy::Strict);
        result
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The AWS machines, for AWS servers.
    pub fn aws(&self) -> Option<&AwsServer> {
        match &self.backend {
            Backend::Aws(aws) => Some(aws),
            Backend::Fixed { .. } => None,
        }
    }

    /// Where its commands run, for messages.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Fixed { transport, .. } => transport.describe(),
            Backend::Aws(aws) => {
                format!("AWS EC2 instances with volume {}", aws.config().volume_id)
            }
        }
    }

    /// Reach the server now and create its directory (AWS: its volume exists).
    pub fn probe(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Fixed { transport, .. } => {
                let directory = scripts::directory_word(self.directory())?;
                transport.check(
                    &format!("mkdir -p {directory}"),
                    None,
                    "creating the server directory",
                )?;
            }
            Backend::Aws(aws) => {
                aws.state()?;
            }
        }
        Ok(())
    }

    /// The transport for job operations: the fixed one, or the instance
    /// holding the volume (started as the server instance if `start` and none runs).
    fn transport(&self, start: bool, progress: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>> {
        match &self.backend {
            Backend::Fixed { transport, .. } => Ok(transport.clone()),
            Backend::Aws(aws) => {
                if let Some((_, transport)) = aws.holder(progress)? {
                    return Ok(transport);
                }
                if !start {
                    bail!(
                        "no instance of server {} runs, so its volume cannot be read: %crimpl server start {}",
                        self.name,
                        self.name
                    );
                }
                progress(&format!(
                    "No instance holds the volume of {name}: starting the server instance to reach it \
                     (it shuts down after {idle} idle minutes, or: %crimpl server stop {name}).",
                    name = self.name,
                    idle = aws.config().instances.idle_stop_minutes
                ));
                aws.start(progress)?;
                aws.holder(progress)?
                    .map(|(_, transport)| transport)
                    .context("the server instance started but cannot be reached")
            }
        }
    }

    fn directory(&self) -> &str {
        self.config.directory()
    }

    fn job_dir(&self, job: &str) -> anyhow::Result<String> {
        scripts::job_dir_word(self.directory(), job)
    }

    /// The command and uploads of `run` (what `--trial-run` shows).
    pub fn plan_run(&self, script: &str, files: &[PathBuf]) -> anyhow::Result<Plan> {
        let uploads = uploads(files)?;
        let name = layout::run_script_name();
        Ok(Plan {
            target: match &self.backend {
                Backend::Aws(_) => format!("the server instance of {}", self.name),
                Backend::Fixed { transport, .. } => transport.describe(),
            },
            commands: vec![self.run_command(&name)?],
            uploads: uploads.iter().map(|u| (u.name.clone(), u.size)).collect(),
            scripts: vec![(name, script.into())],
        })
    }

    /// Unpack the script (and files) in the server directory, run it, remove it.
    fn run_command(&self, script_name: &str) -> anyhow::Result<String> {
        scripts::run_in_directory(
            &scripts::directory_word(self.directory())?,
            script_name,
            &layout::run_pid_name(script_name),
        )
    }

    /// Run `script` in the server directory (after sending `files` there),
    /// handing its output (stdout and stderr interleaved) to `output` as it
    /// comes; returns its exit code. When `stop` fires, the script's whole
    /// process group is ended and the error is a
    /// [`Stopped`](super::transport::Stopped) saying so.
    pub fn run_script(
        &self,
        script: &str,
        files: &[PathBuf],
        progress: Progress<'_>,
        output: &mut dyn FnMut(&[u8]),
        stop: &CancellationToken,
    ) -> anyhow::Result<Option<i32>> {
        let uploads = uploads(files)?;
        let script_name = layout::run_script_name();
        let mut entries = vec![Entry::text(&script_name, script, 0o644)];
        entries.extend(uploads);
        let command = self.run_command(&script_name)?;
        let stop = Stop {
            token: stop.clone(),
            command: scripts::stop_run(
                &scripts::directory_word(self.directory())?,
                &script_name,
                &layout::run_pid_name(&script_name),
            )?,
        };
        let transport = match &self.backend {
            // On AWS, `run` is for setup work on the server instance.
            Backend::Aws(aws) => {
                aws.start(progress)?;
                self.transport(false, progress)?
            }
            Backend::Fixed { .. } => self.transport(false, progress)?,
        };
        let finished = transport.exec_stoppable(
            &command,
            Some(tar_feed(entries)),
            &mut |reader| {
                let mut buffer = [0u8; 8192];
                loop {
                    let n = reader.read(&mut buffer)?;
                    if n == 0 {
                        return Ok(());
                    }
                    output(&buffer[..n]);
                }
            },
            Some(&stop),
        )?;
        if !finished.stderr.trim().is_empty() {
            output(finished.stderr.as_bytes());
        }
        Ok(finished.code)
    }

    /// What `submit` would send and run.
    pub fn plan_submit(&self, script: &str, options: &SubmitOptions) -> anyhow::Result<Plan> {
        option_kinds::check(self.config.kind(), &self.name, options)?;
        let job = options.job.clone().unwrap_or_else(layout::job_name_now);
        let entries = self.job_entries(&job, script, options)?;
        Ok(Plan {
            target: match &self.backend {
                Backend::Aws(_) => format!("a new {} job instance", self.instance_type(options)?),
                Backend::Fixed { transport, .. } => transport.describe(),
            },
            commands: vec![self.submit_command(&job)?],
            uploads: entries
                .iter()
                .filter(|e| !layout::is_own_file(&e.name))
                .map(|e| (e.name.clone(), e.size))
                .collect(),
            scripts: entries
                .iter()
                .filter_map(|e| e.text.clone().map(|t| (e.name.clone(), t)))
                .collect(),
        })
    }

    /// Create the job, send the script and files, and start it detached;
    /// returns the job's name.
    pub fn submit(
        &self,
        script: &str,
        options: &SubmitOptions,
        progress: Progress<'_>,
    ) -> anyhow::Result<String> {
        option_kinds::check(self.config.kind(), &self.name, options)?;
        let base = options.job.clone().unwrap_or_else(layout::job_name_now);
        layout::validate_job_name(&base)?;
        if let Some(batch) = self.batch_script(&base, script, options)? {
            for note in &batch.notes {
                progress(note);
            }
        }
        let (transport, launched): (Arc<dyn Transport>, _) = match &self.backend {
            Backend::Aws(aws) => {
                let max_minutes = aws::lifetime::job_minutes(
                    options.slurm.walltime.as_deref(),
                    aws.config().instances.lifetime_margin_minutes,
                )?;
                let (transport, launched) = aws.start_job_instance(
                    &base,
                    &self.instance_type(options)?,
                    options.image_id.as_deref(),
                    options.keep_instance,
                    max_minutes,
                    progress,
                )?;
                (transport, launched.map(|id| (aws, id)))
            }
            Backend::Fixed { transport, .. } => (transport.clone(), None),
        };
        let placed = self.place_job(transport.as_ref(), &base, script, options);
        self.poller.forget();
        if let (Err(_), Some((aws, id))) = (&placed, launched) {
            // Never leave an instance running for a job that does not exist.
            progress(&format!(
                "The job was not submitted: terminating the instance {id} launched for it."
            ));
            aws.terminate_instance(&id)?;
        }
        placed
    }

    /// Create the job directory (as `base`, or `base-2`, ... when the name
    /// was not given and is taken), send the files and start the job.
    fn place_job(
        &self,
        transport: &dyn Transport,
        base: &str,
        script: &str,
        options: &SubmitOptions,
    ) -> anyhow::Result<String> {
        let explicit = options.job.is_some();
        for attempt in 0..20 {
            let job = if attempt == 0 {
                base.to_string()
            } else {
                format!("{base}-{}", attempt + 1)
            };
            let entries = self.job_entries(&job, script, options)?;
            let captured =
                transport.capture(&self.submit_command(&job)?, Some(tar_feed(entries)))?;
            match captured.finished.code {
                Some(0) => {
                    if let (Some(aws), true) = (self.aws(), job != base) {
                        aws.rename_job_instance(base, &job)?;
                    }
                    return Ok(job);
                }
                Some(EXISTS_CODE) if !explicit => continue,
                Some(EXISTS_CODE) => bail!(EngineError::Exists(format!(
                    "job {job:?} exists already on {}: choose another --job name{}",
                    self.name,
                    if self.aws().is_some() {
                        String::new()
                    } else {
                        format!(", or run it again with %crimpl resubmit {job}")
                    }
                ))),
                code => bail!(
                    "submitting job {job:?} on {} failed (exit {}): {}",
                    self.name,
                    code.map_or("by signal".into(), |c| c.to_string()),
                    captured.finished.stderr.trim()
                ),
            }
        }
        bail!("could not find a free job name starting with {base:?}")
    }

    fn job_entries(
        &self,
        job: &str,
        script: &str,
        options: &SubmitOptions,
    ) -> anyhow::Result<Vec<Entry>> {
        layout::validate_job_name(job)?;
        let files = uploads(&options.files)?;
        let input_list: String = files.iter().map(|f| format!("{}\n", f.name)).collect();
        let mut entries = vec![
            Entry::text(SUBMIT_SCRIPT, script, 0o644),
            Entry::text(
                WRAPPER,
                &scripts::wrapper_script(
                    self.after_job(options.keep_instance),
                    self.foreign_signal(),
                ),
                0o755,
            ),
            Entry::text(INPUT_LIST, &input_list, 0o644),
        ];
        if let Some(batch) = self.batch_script(job, script, options)? {
            entries.push(Entry::text(slurm::BATCH_SCRIPT, &batch.text, 0o644));
        }
        entries.extend(files);
        Ok(entries)
    }

    /// The batch script of a job on a Slurm server (`None` on other kinds).
    fn batch_script(
        &self,
        job: &str,
        script: &str,
        options: &SubmitOptions,
    ) -> anyhow::Result<Option<slurm::BatchScript>> {
        let ServerConfig::Slurm {
            mail_user,
            defaults,
            ..
        } = &self.config
        else {
            return Ok(None);
        };
        slurm::batch_script(&slurm::BatchRequest {
            job,
            nprocs: options.nprocs,
            options: &options.slurm,
            defaults,
            mail_user: mail_user.as_deref(),
            body: script,
            login_shell: self.config.login_shell(),
        })
        .map(Some)
    }

    /// What the wrapper records when something else than `kill` signals it:
    /// under Slurm a signal may be a requeue, so Slurm has the last word.
    fn foreign_signal(&self) -> scripts::ForeignSignal {
        match self.config {
            ServerConfig::Slurm { .. } => scripts::ForeignSignal::Interrupts,
            _ => scripts::ForeignSignal::Cancels,
        }
    }

    /// The EC2 instance type for a submission: `--instance-type`, or by `--nprocs`.
    fn instance_type(&self, options: &SubmitOptions) -> anyhow::Result<String> {
        match &options.instance_type {
            Some(instance_type) => Ok(instance_type.clone()),
            None => match &self.backend {
                Backend::Aws(server) => server.config().job_type(options.nprocs.unwrap_or(1)),
                Backend::Fixed { .. } => {
                    Ok(aws::for_nprocs(options.nprocs.unwrap_or(1))?.to_string())
                }
            },
        }
    }

    /// What the wrapper runs after recording the end: an EC2 job instance
    /// shuts down (and so terminates) unless it is kept. The minute's grace
    /// lets a watching kernel read the end and record it on the volume's
    /// tags before it terminates the instance itself; with no kernel
    /// watching, the instance ends a minute later.
    fn after_job(&self, keep_instance: bool) -> Option<&'static str> {
        (self.aws().is_some() && !keep_instance).then_some("sudo -n shutdown -h +1")
    }

    fn submit_command(&self, job: &str) -> anyhow::Result<String> {
        let dir = scripts::directory_word(self.directory())?;
        let job_dir = layout::job_dir_name(job);
        Ok(format!(
            "mkdir -p {dir} && cd {dir} && {{ mkdir {job_dir} 2>/dev/null || exit {EXISTS_CODE}; }} && cd {job_dir} && tar xf - && {}",
            self.start_command(".")
        ))
    }

    fn start_command(&self, job_dir: &str) -> String {
        match self.config {
            ServerConfig::Slurm { .. } => slurm::start(job_dir),
            _ => scripts::start_detached(job_dir),
        }
    }

    /// Every job on the server with its status: one remote command.
    pub fn jobs(&self) -> anyhow::Result<Vec<JobRecord>> {
        self.survey(&format!("{}*", layout::JOB_DIR_PREFIX))
    }

    /// One job's record; an error names the jobs that exist if it is not found.
    pub fn job(&self, job: &str) -> anyhow::Result<JobRecord> {
        let pattern = layout::job_dir_name(job);
        layout::validate_job_name(job)?;
        self.survey(&pattern)?
            .into_iter()
            .next()
            .ok_or_else(|| match self.aws() {
                Some(_) => anyhow::anyhow!(
                    "job {job:?} has no recorded end on server {name} (its volume keeps the latest {}, \
                 this machine the ends it saw) and no instance runs to read the volume: \
                 %crimpl server start {name}, then ask again",
                    aws::MAX_JOB_STATUSES,
                    name = self.name
                ),
                None => self.no_such_job(job),
            })
    }

    /// "No such job", naming the existing jobs closest to `job` (one more
    /// survey, on this error path only).
    fn no_such_job(&self, job: &str) -> anyhow::Error {
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
    fn unless_missing(&self, job: &str, err: anyhow::Error) -> anyhow::Error {
        match self.aws() {
            None if self.job(job).is_err() => self.no_such_job(job),
            _ => err,
        }
    }

    /// The record of `job`, or `None` if the server has no such job (it was
    /// deleted, or never existed). On AWS, as [`Server::job`]: a job no
    /// instance can read is an error, not `None`.
    pub fn find_job(&self, job: &str) -> anyhow::Result<Option<JobRecord>> {
        layout::validate_job_name(job)?;
        match &self.backend {
            Backend::Fixed { .. } => {
                Ok(self.survey(&layout::job_dir_name(job))?.into_iter().next())
            }
            Backend::Aws(_) => self.job(job).map(Some),
        }
    }

    fn survey(&self, pattern: &str) -> anyhow::Result<Vec<JobRecord>> {
        match &self.backend {
            Backend::Fixed { transport, .. } => {
                let (records, queue) =
                    self.survey_over(transport.as_ref(), pattern, false, None)?;
                if let Some(queue) = queue {
                    self.poller.queue_read(&queue);
                }
                Ok(records)
            }
            Backend::Aws(aws) => self.survey_aws(aws, pattern),
        }
    }

    /// The record of a watched job, through the server's one [`Poller`]:
    /// however many jobs are watched, one survey of the job directories per
    /// second and, on Slurm, one `squeue` per floor interval
    /// (`poll_floor_seconds`, default 30 s). `None` if there is no such job.
    pub fn watch_record(&self, job: &str) -> anyhow::Result<Option<JobRecord>> {
        let Backend::Fixed { transport, .. } = &self.backend else {
            return self.find_job(job);
        };
        let (queue, ticket) = match self.poller.turn(job, self.poll_floor()) {
            Turn::Cached(record) => return Ok(Some(record)),
            Turn::Poll(queue, ticket) => (queue, ticket),
        };
        let pattern = format!("{}*", layout::JOB_DIR_PREFIX);
        match self.survey_over(transport.as_ref(), &pattern, false, queue.as_ref()) {
            Ok((records, queue)) => {
                let found = records.iter().find(|r| r.name == job).cloned();
                self.poller.polled(ticket, Ok((records, queue)));
                Ok(found)
            }
            Err(err) => {
                self.poller.polled(ticket, Err(format!("{err:#}")));
                Err(err)
            }
        }
    }

    /// The least interval between two `squeue` of this server's watchers.
    fn poll_floor(&self) -> Duration {
        match &self.config {
            ServerConfig::Slurm {
                poll_floor_seconds, ..
            } => Duration::from_secs(poll_floor_seconds.unwrap_or(SLURM_FLOOR_SECONDS)),
            _ => Duration::ZERO,
        }
    }

    /// Statuses on AWS: from the volume through the instance holding it (and
    /// a finished job's instance is then terminated through the API; the
    /// ends seen are remembered on this machine), or, when none runs, from
    /// the ends recorded in the volume's tags and then this machine's. One
    /// DescribeInstances (or DescribeVolumes) per call, however many jobs.
    fn survey_aws(&self, aws: &AwsServer, pattern: &str) -> anyhow::Result<Vec<JobRecord>> {
        let quiet = |_: &str| {};
        let wanted = |name: &str| pattern.ends_with('*') || pattern == layout::job_dir_name(name);
        match aws.holder(&quiet)? {
            Some((holder, transport)) => {
                let (records, _) = self.survey_over(transport.as_ref(), pattern, true, None)?;
                // Only the holder can be a job instance still running: end it if its job has.
                if let Some(ended) = records.iter().find(|r| {
                    r.status.is_final() && holder.job_name.as_deref() == Some(r.name.as_str())
                }) {
                    aws.end_job(&holder, ended.status.word())?;
                }
                // A record this machine cannot write must not fail the survey: the volume has the truth.
                if let Err(err) = aws.last_known().and_then(|known| known.remember(&records)) {
                    eprintln!(
                        "[crimpl] could not remember the jobs' ends on this machine: {err:#}"
                    );
                }
                Ok(records)
            }
            None => {
                let mut records: Vec<JobRecord> = aws
                    .recorded_statuses()?
                    .into_iter()
                    .filter(|(name, _)| wanted(name))
                    .map(|(name, word)| {
                        let status = JobStatus::from_word(&word)
                            .unwrap_or_else(|| JobStatus::Unknown(word.clone()));
                        JobRecord::new(&name, status)
                    })
                    .collect();
                // Ends older than the volume's tags keep, as this machine last saw them.
                for known in aws.last_known()?.records() {
                    if wanted(&known.name) && !records.iter().any(|r| r.name == known.name) {
                        records.push(known);
                    }
                }
                Ok(records)
            }
        }
    }

    /// Survey the job directories matching `pattern` (on Slurm with the
    /// queue: read afresh and returned, or `cached` when given).
    fn survey_over(
        &self,
        transport: &dyn Transport,
        pattern: &str,
        other_hosts_gone: bool,
        cached: Option<&slurm::Queue>,
    ) -> anyhow::Result<(Vec<JobRecord>, Option<slurm::Queue>)> {
        let survey = scripts::survey(self.directory(), pattern, other_hosts_gone)?;
        let slurm = matches!(self.config, ServerConfig::Slurm { .. }) && cached.is_none();
        // On Slurm the queue is read first: a job that leaves the queue after
        // that has already written its end, which the survey then sees.
        let directory = scripts::directory_word(self.directory())?;
        let command = if slurm {
            format!(
                "{}\necho {}\n{survey}",
                slurm::queue_command(&directory),
                slurm::QUEUE_MARKER
            )
        } else {
            survey
        };
        let output = transport.check(&command, None, "reading job statuses")?;
        let text = String::from_utf8_lossy(&output);
        let (queue, survey) = match text.split_once(&format!("{}\n", slurm::QUEUE_MARKER)) {
            Some((queue, survey)) if slurm => (Some(slurm::parse_queue(queue)), survey),
            _ => (None, text.as_ref()),
        };
        let mut lines: Vec<SurveyLine> = survey.lines().filter_map(SurveyLine::parse).collect();
        if let Some(queue) = &queue {
            self.learn_ends(transport, &directory, &mut lines, queue);
        }
        let mut records: Vec<JobRecord> = lines
            .into_iter()
            .map(|line| match queue.as_ref().or(cached) {
                // A job the last queue read did not know yet reads as its files say.
                Some(queue) if queue.is_ok() && cached.is_some() && !slurm::knows(queue, &line) => {
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
                None => {
                    let status = line.detached_status();
                    line.into_record(status)
                }
            })
            .collect();
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((records, queue))
    }

    /// Learn and save how Slurm jobs ended where their records do not say
    /// yet (one more command, only when some job needs it). A failure here
    /// leaves the statuses as the survey read them.
    fn learn_ends(
        &self,
        transport: &dyn Transport,
        directory: &str,
        lines: &mut [SurveyLine],
        queue: &slurm::Queue,
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

    /// At most `max_bytes` of the job's log from byte `offset` on: a log of
    /// any size is read in pieces, never whole.
    pub fn log(
        &self,
        job: &str,
        kind: scripts::LogKind,
        offset: u64,
        max_bytes: u64,
    ) -> anyhow::Result<Vec<u8>> {
        let command = scripts::read_log(&self.job_dir(job)?, kind, offset, max_bytes);
        self.transport(false, &|_| {})?
            .check(&command, None, "reading the job log")
            .map_err(|err| self.unless_missing(job, err))
    }

    /// The byte offset where the last `lines` lines of the job's log start.
    pub fn log_tail_offset(
        &self,
        job: &str,
        kind: scripts::LogKind,
        lines: usize,
    ) -> anyhow::Result<u64> {
        let command = scripts::log_tail_offset(&self.job_dir(job)?, kind, lines);
        let said = self
            .transport(false, &|_| {})?
            .check(&command, None, "reading the job log")
            .map_err(|err| self.unless_missing(job, err))?;
        String::from_utf8_lossy(&said)
            .trim()
            .parse()
            .context("unexpected answer reading the job log's size")
    }

    /// The job's files, marked input, output or crimpl: the first `limit`
    /// entries (all with `None`, or only the top level with `top_level`),
    /// and totals for all. Read as it arrives, in bounded memory.
    pub fn ls(&self, job: &str, limit: Option<usize>, top_level: bool) -> anyhow::Result<Listing> {
        let command = scripts::list_files(&self.job_dir(job)?, top_level.then_some(1));
        let mut listing = None;
        let finished = self
            .transport(false, &|_| {})?
            .exec(&command, None, &mut |reader| {
                listing = Some(read_listing(std::io::BufReader::new(reader), limit)?);
                Ok(())
            })?;
        match (finished.code, listing) {
            (Some(3), _) => Err(self.no_such_job(job)),
            (Some(0), Some(listing)) => Ok(listing),
            _ => bail!(
                "listing job {job:?} failed on server {}: {}",
                self.name,
                finished.stderr.trim()
            ),
        }
    }

    /// Fetch `paths` of the job (default: its output files) into `target`.
    /// Hidden files are left out (and counted) unless named or `policy.hidden`.
    pub fn fetch(
        &self,
        job: &str,
        paths: &[String],
        target: &Path,
        mut policy: UnpackPolicy,
        progress: Progress<'_>,
    ) -> anyhow::Result<FetchReport> {
        // On AWS with no instance running, the server instance is started to reach the volume.
        let transport = self.transport(true, progress)?;
        let mut hidden_at_top = Vec::new();
        let names: Vec<String> = if paths.is_empty() {
            let outputs = self
                .ls(job, None, true)?
                .files
                .into_iter()
                .filter(|f| f.role == FileRole::Output);
            let (hidden, shown): (Vec<JobFile>, Vec<JobFile>) =
                outputs.partition(|f| !policy.hidden && f.path.starts_with('.'));
            hidden_at_top = hidden.into_iter().map(|f| PathBuf::from(f.path)).collect();
            shown.into_iter().map(|f| f.path).collect()
        } else {
            for path in paths {
                if path.split('/').any(|part| part == "..") || path.starts_with('/') {
                    bail!("{path:?} is not a path inside the job directory");
                }
            }
            policy.named = paths.iter().map(PathBuf::from).collect();
            paths.to_vec()
        };
        let mut report = if names.is_empty() {
            FetchReport::default()
        } else {
            self.receive(&transport, job, &names, target, policy)?
        };
        report.hidden_left_out += hidden_at_top.len();
        let room = 5usize.saturating_sub(report.hidden_examples.len());
        report
            .hidden_examples
            .extend(hidden_at_top.into_iter().take(room));
        Ok(report)
    }

    /// Receive `names` of the job as one tar stream and unpack it into `target`.
    fn receive(
        &self,
        transport: &Arc<dyn Transport>,
        job: &str,
        names: &[String],
        target: &Path,
        policy: UnpackPolicy,
    ) -> anyhow::Result<FetchReport> {
        let command = scripts::tar_files(&self.job_dir(job)?, names)?;
        // Receiving (decryption, for SSH) and unpacking (disk writes) run on
        // two threads joined by a pipe, so a large fetch uses both cores.
        let (pipe_out, mut pipe_in) = std::io::pipe().context("cannot create a pipe")?;
        unpack::widen_pipe(&pipe_in);
        let destination = target.to_path_buf();
        let unpacker = std::thread::spawn(move || {
            let reader = std::io::BufReader::with_capacity(1 << 20, pipe_out);
            unpack::unpack(reader, &destination, &policy)
        });
        let received = transport.exec(&command, None, &mut |reader| {
            unpack::copy(reader, &mut pipe_in).map(|_| ())
        });
        drop(pipe_in);
        let report = unpacker
            .join()
            .map_err(|_| anyhow::anyhow!("the unpacking thread failed"))?;
        let finished = received?;
        if !finished.success() {
            let err = anyhow::anyhow!(
                "fetching from job {job:?} failed: {}",
                finished.stderr.trim()
            );
            return Err(self.unless_missing(job, err));
        }
        report
    }

    /// Kill the job; it ends `canceled`. Only the job's own processes are
    /// signalled: see [`KillOutcome`] for when nothing is.
    pub fn kill(&self, job: &str) -> anyhow::Result<KillOutcome> {
        let job_dir = self.job_dir(job)?;
        let command = match self.config {
            ServerConfig::Slurm { .. } => slurm::kill(&job_dir),
            _ => scripts::kill_detached(&job_dir),
        };
        let said = self
            .transport(false, &|_| {})?
            .check(&command, None, &format!("killing job {job:?}"))
            .map_err(|err| self.unless_missing(job, err))?;
        self.poller.forget();
        Ok(KillOutcome::parse(&String::from_utf8_lossy(&said)))
    }

    /// Start the job's script again, in the same directory (after it ended).
    pub fn resubmit(&self, job: &str) -> anyhow::Result<()> {
        if self.aws().is_some() {
            bail!(
                "on AWS a job runs on its own new instance: submit the cell again (with another --job name)"
            );
        }
        let record = self.job(job)?;
        if !record.status.is_final() && record.status != JobStatus::NotSubmitted {
            bail!(
                "job {job:?} is {}: wait for it to end, or kill it first",
                record.status
            );
        }
        let job_dir = self.job_dir(job)?;
        // A job created by crimpl 0.2.0 has no wrapper yet: add ours.
        let install_wrapper = format!(
            "cd {job_dir} && cat > {WRAPPER}.tmp && mv -f {WRAPPER}.tmp {WRAPPER} && {}",
            self.start_command(".")
        );
        let wrapper = scripts::wrapper_script(None, self.foreign_signal());
        let feed: StdinFeed<'_> =
            Box::new(move |w: &mut dyn Write| w.write_all(wrapper.as_bytes()));
        self.transport(false, &|_| {})?.check(
            &install_wrapper,
            Some(feed),
            &format!("resubmitting job {job:?}"),
        )?;
        self.poller.forget();
        Ok(())
    }
}

/// Exit code of the submit command when the job directory exists already.
const EXISTS_CODE: i32 = 17;

/// One entry of the tar stream sent with a script.
struct Entry {
    name: String,
    size: u64,
    mode: u32,
    text: Option<String>,
    path: Option<PathBuf>,
}

impl Entry {
    fn text(name: &str, text: &str, mode: u32) -> Self {
        Self {
            name: name.into(),
            size: text.len() as u64,
            mode,
            text: Some(text.into()),
            path: None,
        }
    }
}

/// The `--files` as entries named by their basenames, checked.
fn uploads(files: &[PathBuf]) -> anyhow::Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?
            .to_string();
        layout::validate_file_name(&name)?;
        if entries.iter().any(|e| e.name == name) {
            bail!("two files are named {name:?}: files land in one directory, so rename one");
        }
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot send {}: no such file", path.display()))?;
        entries.push(Entry {
            name,
            size: meta.len(),
            mode: 0o644,
            text: None,
            path: Some(path.clone()),
        });
    }
    Ok(entries)
}

/// A stdin feed writing `entries` as a tar archive.
fn tar_feed(entries: Vec<Entry>) -> StdinFeed<'static> {
    Box::new(move |writer: &mut dyn Write| {
        let mut builder = tar::Builder::new(writer);
        builder.mode(tar::HeaderMode::Deterministic);
        for entry in entries {
            match (entry.text, entry.path) {
                (Some(text), _) => {
                    let mut header = tar::Header::new_gnu();
                    header.set_size(text.len() as u64);
                    header.set_mode(entry.mode);
                    header.set_entry_type(tar::EntryType::Regular);
                    builder.append_data(&mut header, &entry.name, text.as_bytes())?;
                }
                (None, Some(path)) if path.is_dir() => {
                    builder.append_dir_all(&entry.name, &path)?
                }
                (None, Some(path)) => builder.append_path_with_name(&path, &entry.name)?,
                (None, None) => {}
            }
        }
        builder.finish()
    })
}
