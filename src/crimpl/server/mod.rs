//! A server and the operations on its jobs: crimpl's object model
//! (`run_script`, `submit_script`, `job_status`, `existing_jobs`,
//! `check_output`, `kill_job`, `resubmit_script`).
//!
//! A [`Server`] composes a [`Scheduler`] (how a job starts, is killed, is
//! surveyed) and a [`Placement`] (where commands run, and the lifecycle
//! around them) and only delegates: it names no particular kind.
//!
//! Every operation is a single remote command where it can be: a submit
//! sends the script, the wrapper and the files as one tar stream into the
//! command that creates the job and starts it; the status of every job is
//! one survey of the server directory.

mod entries;
mod option_kinds;
mod options;
mod placement;
mod poller;
mod scheduler;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use super::after::After;
use super::array_files::{TaskOutputs, read_task_outputs};
use super::config::ServerConfig;
use super::error::EngineError;
use super::job::{FileRole, JobFile, JobRecord, KillOutcome, Listing, read_listing};
use super::kept_log::KeptLog;
use super::layout::{self, AFTER_FILE, INPUT_LIST, SUBMIT_SCRIPT, WRAPPER};
use super::layout::{TASK_DIR_PREFIX, TASK_LIST, TASK_WRAPPER};
use super::progress::Progress;
use super::scripts;
use super::status::JobStatus;
use super::suggest;
use super::transport::{StdinFeed, Stop, Transport};
use super::unpack::{self, FetchReport, UnpackPolicy};
use entries::{Entry, array_entries, tar_feed, uploads};
use placement::{Launch, Placement};
use poller::{Poller, Turn};
use scheduler::{Scheduler, SurveyRequest};

pub use options::{Plan, SubmitOptions};
pub use scheduler::QueueRead;

/// A named server: one [`Scheduler`] and one [`Placement`].
pub struct Server {
    name: String,
    config: ServerConfig,
    scheduler: Box<dyn Scheduler>,
    placement: Box<dyn Placement>,
    poller: Poller,
}

impl Server {
    /// A server called `name` with `config`; SSH kinds connect on first use.
    pub fn open(name: &str, config: ServerConfig) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.into(),
            scheduler: scheduler::for_config(&config),
            placement: placement::open(name, &config)?,
            config,
            poller: Poller::default(),
        })
    }

    /// Record the SSH host's key in known_hosts if its fingerprint is
    /// `fingerprint` (which the user compared with the host's own).
    pub fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()> {
        self.placement
            .trust_host_key(fingerprint)
            .with_context(|| format!("server {}", self.name))
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Where its commands run, for messages.
    pub fn describe(&self) -> String {
        self.placement.describe()
    }

    /// Reach the server now and create its directory (AWS: its volume exists).
    pub fn probe(&self) -> anyhow::Result<()> {
        self.placement.probe(self.directory())
    }

    /// The transport for operations on existing jobs (`start`: the
    /// placement may start a machine to reach them).
    fn transport(&self, start: bool, progress: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>> {
        self.placement.transport(start, progress)
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
            target: self.placement.run_target(),
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
        let transport = self.placement.run_transport(progress)?;
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
        let entries = self.job_entries(&job, script, options, &[])?;
        Ok(Plan {
            target: self.placement.submit_target(options)?,
            commands: vec![self.submit_command(&job, options)?],
            uploads: entries
                .iter()
                .filter(|e| e.path.is_some())
                .map(|e| (e.name.clone(), e.size))
                .collect(),
            // An array's task directories are not shown one by one.
            scripts: entries
                .iter()
                .filter(|e| !e.name.contains('/'))
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
        let waited;
        let options = if options.after.is_empty() {
            options
        } else {
            waited = SubmitOptions {
                after: self.still_to_wait_for(&options.after)?,
                ..options.clone()
            };
            &waited
        };
        if let Some(file) = self.scheduler.job_file(&base, script, options)? {
            for note in &file.notes {
                progress(note);
            }
        }
        let launch = self.placement.launch(&base, options, progress)?;
        let placed = self.place_job(&launch, &base, script, options);
        self.poller.forget();
        if placed.is_err() {
            self.placement.placement_failed(&launch, progress)?;
        }
        placed
    }

    /// The dependencies that have not ended yet; an error for a job that
    /// does not exist, or that had to complete and failed already.
    fn still_to_wait_for(&self, after: &[After]) -> anyhow::Result<Vec<After>> {
        let mut waiting = Vec::new();
        for dependency in after {
            let Some(record) = self.find_job(&dependency.job)? else {
                return Err(EngineError::NotFound(format!(
                    "--after {}: there is no such job on server {} to wait for",
                    dependency.job, self.name
                ))
                .into());
            };
            match &record.status {
                JobStatus::Complete => {}
                status if status.is_final() && !dependency.ok => {}
                status if status.is_final() => bail!(EngineError::Usage(format!(
                    "--after {}: that job has ended {}, so this one would never run: \
                     run it again first, or wait with {}:any",
                    dependency.job,
                    record.shown(),
                    dependency.job
                ))),
                _ => waiting.push(dependency.clone()),
            }
        }
        Ok(waiting)
    }

    /// Create the job directory (as `base`, or `base-2`, ... when the name
    /// was not given and is taken), send the files and start the job.
    fn place_job(
        &self,
        launch: &Launch,
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
            let entries = self.job_entries(&job, script, options, &launch.entries)?;
            let captured = launch.transport.capture(
                &self.submit_command(&job, options)?,
                Some(tar_feed(entries)),
            )?;
            match captured.finished.code {
                Some(0) => {
                    self.placement.job_placed(base, &job)?;
                    return Ok(job);
                }
                Some(EXISTS_CODE) if !explicit => continue,
                Some(EXISTS_CODE) => bail!(EngineError::Exists(format!(
                    "job {job:?} exists already on {}: choose another --job name{}",
                    self.name,
                    match self.placement.resubmit_refusal() {
                        Some(_) => String::new(),
                        None => format!(", or run it again with %crimpl resubmit {job}"),
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

    /// Every entry of the job directory: crimpl's scripts (with the
    /// placement's own `extra` files), the array's tasks, the `--files`.
    fn job_entries(
        &self,
        job: &str,
        script: &str,
        options: &SubmitOptions,
        extra: &[Entry],
    ) -> anyhow::Result<Vec<Entry>> {
        layout::validate_job_name(job)?;
        let files = uploads(&options.files)?;
        let input_list: String = files.iter().map(|f| format!("{}\n", f.name)).collect();
        let after = self.placement.after_job(options);
        let mut entries = vec![
            Entry::text(SUBMIT_SCRIPT, script, 0o644),
            Entry::text(INPUT_LIST, &input_list, 0o644),
        ];
        if !options.after.is_empty() {
            let after: String = options.after.iter().map(After::line).collect();
            entries.push(Entry::text(AFTER_FILE, &after, 0o644));
        }
        let foreign = self.scheduler.foreign_signal();
        match &options.array {
            None => entries.push(Entry::text(
                WRAPPER,
                &scripts::wrapper_script(after, foreign),
                0o755,
            )),
            Some(array) => {
                // What runs after the job runs after the array's runner, not after each task.
                match self
                    .scheduler
                    .array_runner(array, options.instances.unwrap_or(1) > 1, after)
                {
                    Some(runner) => {
                        let task_wrapper = scripts::wrapper_script(None, foreign);
                        entries.push(Entry::text(TASK_WRAPPER, &task_wrapper, 0o755));
                        entries.push(Entry::text(WRAPPER, &runner, 0o755));
                    }
                    None => {
                        let task_wrapper = scripts::wrapper_script(after, foreign);
                        entries.push(Entry::text(TASK_WRAPPER, &task_wrapper, 0o755));
                    }
                }
                let inputs: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
                entries.extend(array_entries(array, &inputs)?);
            }
        }
        if let Some(file) = self.scheduler.job_file(job, script, options)? {
            entries.push(Entry::text(file.name, &file.text, 0o644));
        }
        entries.extend(extra.iter().cloned());
        entries.extend(files);
        Ok(entries)
    }

    /// Create the job directory, unpack the upload into it and start the job.
    fn submit_command(&self, job: &str, options: &SubmitOptions) -> anyhow::Result<String> {
        let dir = scripts::directory_word(self.directory())?;
        let job_dir = layout::job_dir_name(job);
        // An array's task directories link to the one copy of the script and
        // inputs (`../name`). GNU tar defers every such link to the end of
        // the archive (seconds for a thousand tasks); the archive is ours,
        // its names checked, so -P extracts them at once.
        let tar = if options.array.is_some() {
            "tar -xPf -"
        } else {
            "tar xf -"
        };
        Ok(format!(
            "mkdir -p {dir} && cd {dir} && {{ mkdir {job_dir} 2>/dev/null || exit {EXISTS_CODE}; }} && cd {job_dir} && {tar} && {}",
            self.scheduler.start_command(".", None)
        ))
    }

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
    fn found(&self, job: &str, record: Option<JobRecord>) -> anyhow::Result<Option<JobRecord>> {
        match (record, self.placement.unproven_missing(&self.name, job)) {
            (Some(record), _) => Ok(Some(record)),
            (None, Some(err)) => Err(err),
            (None, None) => Ok(None),
        }
    }

    /// Survey the jobs matching `pattern` now, and leave a queue read on
    /// the way for the watchers to reuse.
    fn survey_now(&self, pattern: &str) -> anyhow::Result<Vec<JobRecord>> {
        let (records, queue) = self.survey(pattern, None)?;
        if let Some(queue) = queue {
            self.poller.queue_read(&queue);
        }
        Ok(records)
    }

    /// The jobs matching `pattern`: the scheduler reads them wherever the
    /// placement reaches them (with `cached`, the scheduler's queue is not
    /// read again); and the queue, when it was read afresh.
    fn survey(
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

    /// At most `max_bytes` of the job's log from byte `offset` on: a log of
    /// any size is read in pieces, never whole.
    pub fn log(
        &self,
        job: &str,
        kind: scripts::LogKind,
        offset: u64,
        max_bytes: u64,
    ) -> anyhow::Result<Vec<u8>> {
        if let Some(kept) = self.kept_log(job, kind) {
            return Ok(kept.read(offset, max_bytes));
        }
        let command = scripts::read_log(&self.job_dir(job)?, kind, offset, max_bytes);
        self.transport(false, &|_| {})?
            .check(&command, None, "reading the job log")
            .map_err(|err| self.unless_missing(job, err))
    }

    /// The end of the job's own log kept on this machine, if its machine
    /// ended after the job (then the log cannot grow any more).
    fn kept_log(&self, job: &str, kind: scripts::LogKind) -> Option<KeptLog> {
        (kind == scripts::LogKind::Job)
            .then(|| self.placement.kept_log(job))
            .flatten()
    }

    /// The byte offset where the last `lines` lines of the job's log start.
    pub fn log_tail_offset(
        &self,
        job: &str,
        kind: scripts::LogKind,
        lines: usize,
    ) -> anyhow::Result<u64> {
        if let Some(kept) = self.kept_log(job, kind) {
            return Ok(kept.tail_offset(lines));
        }
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
        self.read_files(job, top_level.then_some(1), |reader| {
            read_listing(reader, limit)
        })
    }

    /// Whether the job is an array (one short command).
    pub fn is_array(&self, job: &str) -> anyhow::Result<bool> {
        let command = scripts::is_array(&self.job_dir(job)?);
        let finished = self
            .transport(false, &|_| {})?
            .exec(&command, None, &mut |_| Ok(()))?;
        match finished.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            Some(3) => Err(self.no_such_job(job)),
            _ => bail!(
                "asking whether job {job:?} is an array failed on server {}: {}",
                self.name,
                finished.stderr.trim()
            ),
        }
    }

    /// An array's own files and what its tasks wrote, summarised (one pass over its files).
    pub fn task_outputs(&self, job: &str) -> anyhow::Result<TaskOutputs> {
        self.read_files(job, None, |reader| read_task_outputs(reader))
    }

    /// Read the job's files (to `depth` levels) with `read`, as they are listed.
    fn read_files<T>(
        &self,
        job: &str,
        depth: Option<u32>,
        read: impl FnOnce(std::io::BufReader<&mut dyn std::io::Read>) -> std::io::Result<T>,
    ) -> anyhow::Result<T> {
        let command = scripts::list_files(&self.job_dir(job)?, depth);
        let mut read = Some(read);
        let mut result = None;
        let finished = self
            .transport(false, &|_| {})?
            .exec(&command, None, &mut |reader| {
                if let Some(read) = read.take() {
                    result = Some(read(std::io::BufReader::new(reader))?);
                }
                Ok(())
            })?;
        match (finished.code, result) {
            (Some(3), _) => Err(self.no_such_job(job)),
            (Some(0), Some(result)) => Ok(result),
            _ => bail!(
                "listing job {job:?} failed on server {}: {}",
                self.name,
                finished.stderr.trim()
            ),
        }
    }

    /// Fetch `paths` of the job (default: its output files; an array's, in
    /// one folder per task, `task-0007/`) into `target`.
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
        if policy.strip_first_part && !paths.is_empty() {
            return Err(EngineError::Usage(
                "--merge gathers all of an array's outputs: name paths, or --merge, not both"
                    .into(),
            )
            .into());
        }
        let names: Vec<String> = if paths.is_empty() {
            let mut listing = self.ls(job, None, true)?;
            let array = listing.files.iter().any(|f| f.path == TASK_LIST);
            if array {
                // An array: each task's own outputs, in its task directory.
                listing = self.ls(job, None, false)?;
                listing.files.retain(|f| !f.is_dir);
            } else if policy.strip_first_part {
                return Err(EngineError::Usage(format!(
                    "job {job} is not an array: --merge gathers an array's tasks' outputs into one folder"
                ))
                .into());
            }
            let outputs = listing
                .files
                .into_iter()
                .filter(|f| f.role == FileRole::Output);
            let hidden = |f: &JobFile| f.path.split('/').any(|part| part.starts_with('.'));
            let (hidden, shown): (Vec<JobFile>, Vec<JobFile>) =
                outputs.partition(|f| !policy.hidden && hidden(f));
            hidden_at_top = hidden.into_iter().map(|f| PathBuf::from(f.path)).collect();
            let names: Vec<String> = shown.into_iter().map(|f| f.path).collect();
            if policy.strip_first_part {
                merge_clash(&names)?;
            }
            names
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
        if !record.tasks.is_empty() {
            return self.resubmit_tasks(job, &job_dir, &record, only_failed);
        }
        if only_failed {
            bail!(EngineError::Usage(format!(
                "job {job:?} is not an array: --failed applies to an array's tasks"
            )));
        }
        // A job created by crimpl 0.2.0 has no wrapper yet: add ours.
        let install_wrapper = format!(
            "cd {job_dir} && cat > {WRAPPER}.tmp && mv -f {WRAPPER}.tmp {WRAPPER} && {}",
            self.scheduler.start_command(".", None)
        );
        let wrapper = scripts::wrapper_script(None, self.scheduler.foreign_signal());
        let feed: StdinFeed<'_> =
            Box::new(move |w: &mut dyn Write| w.write_all(wrapper.as_bytes()));
        self.transport(false, &|_| {})?.check(
            &install_wrapper,
            Some(feed),
            &format!("resubmitting job {job:?}"),
        )?;
        self.poller.forget();
        Ok(0)
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
        let ids: Vec<String> = dirs
            .iter()
            .filter_map(|d| d.strip_prefix(TASK_DIR_PREFIX))
            .map(|n| n.trim_start_matches('0'))
            .map(|n| {
                if n.is_empty() {
                    "0".into()
                } else {
                    n.to_string()
                }
            })
            .collect();
        let command = format!(
            "cd {job_dir} && {} && {}",
            scripts::reset_tasks(&dirs)?,
            self.scheduler.start_command(".", Some(&ids.join(",")))
        );
        self.transport(false, &|_| {})?.check(
            &command,
            None,
            &format!("resubmitting array {job:?}"),
        )?;
        self.poller.forget();
        Ok(again.len())
    }
}

/// Exit code of the submit command when the job directory exists already.
const EXISTS_CODE: i32 = 17;

/// Refuse to merge an array's outputs when two tasks wrote the same path
/// (`task-0001/out.txt` and `task-0002/out.txt`): one would hide the other.
fn merge_clash(names: &[String]) -> Result<(), EngineError> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    let mut first_writer: std::collections::HashMap<&str, &str> = Default::default();
    for name in sorted {
        let Some((task, path)) = name.split_once('/') else {
            continue;
        };
        if let Some(other) = first_writer.insert(path, task) {
            return Err(EngineError::Usage(format!(
                "{other} and {task} both wrote {path:?}, so their outputs cannot share one folder: \
                 fetch without --merge (a folder per task)"
            )));
        }
    }
    Ok(())
}
