//! Submitting a job: the plan, the `--after` jobs still to wait for, the
//! placement of the job (where it runs), its files and the one command that
//! creates the job directory and starts it.

use anyhow::bail;

use super::Server;
use super::entries::{Entry, array_entries, tar_feed, uploads};
use super::option_kinds;
use super::options::{Plan, SubmitOptions};
use super::placement::Launch;
use super::reattach::{Reattach, SubmitOutcome, Submitted};
use super::scheduler::TaskStart;
use crate::crimpl::after::After;
use crate::crimpl::error::EngineError;
use crate::crimpl::layout::{
    self, AFTER_FILE, INPUT_LIST, SUBMIT_SCRIPT, SUBMITTING_LOCK, TASK_WRAPPER, WRAPPER,
};
use crate::crimpl::manifest::{MANIFEST_FILE, Manifest};
use crate::crimpl::progress::Progress;
use crate::crimpl::scripts;
use crate::crimpl::status::JobStatus;
use crate::crimpl::transport::Transport;

impl Server {
    /// What `submit` would send and run.
    pub fn plan_submit(&self, script: &str, options: &SubmitOptions) -> anyhow::Result<Plan> {
        option_kinds::check(self.config.kind(), &self.name, options)?;
        let job = options.job.clone().unwrap_or_else(layout::job_name_now);
        let mut entries = self.job_entries(&job, script, options, &[])?;
        let manifest = self.manifest_for(script, options)?;
        entries.push(Entry::text(MANIFEST_FILE, &manifest.to_json(), 0o644));
        Ok(Plan {
            target: self.placement.submit_target(options)?,
            commands: vec![self.submit_command(None, &job, options)?],
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

    /// Create the job, send the script and files, and start it detached.
    /// A named job that exists already is met as `options.existing` says
    /// (see `reattach.rs`).
    pub fn submit(
        &self,
        script: &str,
        options: &SubmitOptions,
        progress: Progress<'_>,
    ) -> anyhow::Result<Submitted> {
        option_kinds::check(self.config.kind(), &self.name, options)?;
        let base = options.job.clone().unwrap_or_else(layout::job_name_now);
        layout::validate_job_name(&base)?;
        let manifest = self.manifest_for(script, options)?;
        let mut outcome = SubmitOutcome::New;
        if options.job.is_some() {
            match self.reattach(&base, script, &manifest, options)? {
                Reattach::Done(outcome) => {
                    self.poller.forget();
                    return Ok(Submitted { job: base, outcome });
                }
                Reattach::Place(placed) => outcome = placed,
            }
        }
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
        let manifest = Manifest {
            placement: launch.placement.clone(),
            ..manifest
        };
        let placed = self.place_job(&launch, &base, script, options, &manifest);
        self.poller.forget();
        if placed.is_err() {
            self.placement.placement_failed(&launch, progress)?;
        }
        Ok(Submitted {
            job: placed?,
            outcome,
        })
    }

    /// The dependencies that have not ended yet; an error for a job that
    /// does not exist, or that had to complete and failed already.
    pub(super) fn still_to_wait_for(&self, after: &[After]) -> anyhow::Result<Vec<After>> {
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

    /// Create the job directory (as `base`, or, when the name was not given
    /// and is taken, `base-` and four random hex digits: kernels submitting
    /// in the same second try different names, not the same `-2`, `-3`, ...),
    /// send the files and start the job.
    pub(super) fn place_job(
        &self,
        launch: &Launch,
        base: &str,
        script: &str,
        options: &SubmitOptions,
        manifest: &Manifest,
    ) -> anyhow::Result<String> {
        let explicit = options.job.is_some();
        for attempt in 0..20 {
            let job = if attempt == 0 {
                base.to_string()
            } else {
                format!("{base}-{}", &uuid::Uuid::new_v4().simple().to_string()[..4])
            };
            let mut entries = self.job_entries(&job, script, options, &launch.entries)?;
            entries.push(Entry::text(MANIFEST_FILE, &manifest.to_json(), 0o644));
            let captured = launch.transport.capture(
                &self.submit_command(Some(launch.transport.as_ref()), &job, options)?,
                Some(tar_feed(entries)),
            )?;
            match captured.finished.code {
                Some(0) => {
                    self.placement.job_placed(base, &job)?;
                    return Ok(job);
                }
                Some(EXISTS_CODE) if !explicit => continue,
                Some(EXISTS_CODE) => bail!(EngineError::Exists(format!(
                    "job {job:?} exists already on {}: {}, or choose another --job name",
                    self.name,
                    match self.aws() {
                        // The volume could not be read before the submit.
                        Some(_) =>
                            "start the server instance (%crimpl server start) and run the cell \
                                    again to reattach to it if it runs the same script",
                        None =>
                            "another kernel made it while this cell was submitted; run the cell \
                                 again to reattach to it if it runs the same script",
                    }
                ))),
                code => {
                    let said = captured.finished.stderr.trim();
                    let transport = launch.transport.as_ref();
                    if let Some(refusal) = self.scheduler.refusal(transport, said, options) {
                        // Nothing runs: the directory this submit made goes, so
                        // the corrected cell can take the name.
                        let left = match self.remove_job(&job) {
                            Ok(_) => String::new(),
                            Err(err) => format!(
                                "\n(its directory could not be removed: {err:#}; \
                                 add --replace when you submit it again)"
                            ),
                        };
                        bail!("job {job:?} was refused by {}: {refusal}{left}", self.name);
                    }
                    bail!(
                        "submitting job {job:?} on {} failed (exit {}): {said}",
                        self.name,
                        code.map_or("by signal".into(), |c| c.to_string()),
                    )
                }
            }
        }
        bail!("could not find a free job name starting with {base:?}")
    }

    /// Every entry of the job directory: crimpl's scripts (with the
    /// placement's own `extra` files), the array's tasks, the `--files`.
    pub(super) fn job_entries(
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
    pub(super) fn submit_command(
        &self,
        transport: Option<&dyn Transport>,
        job: &str,
        options: &SubmitOptions,
    ) -> anyhow::Result<String> {
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
        let mode = self.config.directory_mode();
        let ids: Vec<u64> = match &options.array {
            Some(array) => array.tasks.iter().map(|t| t.id).collect(),
            None => Vec::new(),
        };
        let start = options.array.as_ref().map(|array| TaskStart {
            ids: &ids,
            max_parallel: array.max_parallel,
            all: true,
        });
        // Unpacked under a lock where `flock` exists (see SUBMITTING_LOCK).
        let unpack = format!(
            "if command -v flock >/dev/null 2>&1; then flock {SUBMITTING_LOCK} {tar}; else {tar}; fi"
        );
        Ok(format!(
            "mkdir -p -m {mode} {dir} && cd {dir} && {{ mkdir -m {mode} {job_dir} 2>/dev/null || exit {EXISTS_CODE}; }} && cd {job_dir} && {unpack} && {}",
            self.scheduler.start_command(transport, ".", start.as_ref())
        ))
    }
}

/// Exit code of the submit command when the job directory exists already.
const EXISTS_CODE: i32 = 17;
