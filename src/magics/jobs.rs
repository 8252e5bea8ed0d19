//! The job commands: run, submit, jobs, status, wait, log, ls, fetch, kill, resubmit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::cli::{
    FetchArgs, JobArgs, LogArgs, ResubmitArgs, RunArgs, ServerArg, StatusArgs, SubmitArgs, WaitArgs,
};
use super::offload::{blocking, progress_to};
use super::state::State;
use super::utf8::Utf8Stream;
use super::watch::{LOG_CHUNK, Watch, display_id, watch, watch_in_background};
use super::{Cancel, MagicError, MagicResult, Output, StreamName, array_views, render};
use crate::crimpl::after::After;
use crate::crimpl::array::ArraySpec;
use crate::crimpl::scripts::LogKind;
use crate::crimpl::slurm::SlurmOptions;
use crate::crimpl::{JobRecord, JobStatus, Server, Stopped, SubmitOptions, UnpackPolicy};

/// Chunks of `run` output read ahead of what the cell has shown.
const RUN_OUTPUT_CHUNKS: usize = 16;

/// `%%crimpl run`: run the body in the server directory, streaming its output.
pub async fn run_script(
    state: &State,
    args: RunArgs,
    body: &str,
    out: &Output,
    cancel: &Cancel,
) -> MagicResult {
    let server = state.server(&args.server)?;
    let files = local_paths(state, &args.files);
    if args.trial_run {
        let plan = server.plan_run(body, &files)?;
        out.display(&render::plan("run", &plan), None);
        return Ok(());
    }
    // Bounded: a script printing faster than the kernel publishes waits for it
    // (its output pipe fills), rather than the kernel's memory growing.
    let (tx, mut chunks) = mpsc::channel::<Vec<u8>>(RUN_OUTPUT_CHUNKS);
    let script = body.to_string();
    let runner = server.clone();
    let progress = progress_to(out);
    let stop = cancel.clone();
    let task = tokio::task::spawn_blocking(move || {
        runner.run_script(
            &script,
            &files,
            &progress,
            &mut |chunk| {
                // Fails only if the cell stopped reading (it reads until the run ends).
                let _ = tx.blocking_send(chunk.to_vec());
            },
            &stop,
        )
    });
    let mut task = std::pin::pin!(task);
    let mut text = Utf8Stream::default();
    let mut interrupted = false;
    loop {
        tokio::select! {
            chunk = chunks.recv() => match chunk {
                Some(chunk) => out.stream(StreamName::Stdout, &text.decode(&chunk)),
                None => {
                    out.stream(StreamName::Stdout, &text.finish());
                    break;
                }
            },
            // The engine sees the same token and stops the script: say so now, and wait for it.
            _ = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                out.stream(StreamName::Stdout, &text.finish());
                out.stream(
                    StreamName::Stderr,
                    &format!("Interrupted: stopping the script on {}...\n", server.name()),
                );
            }
        }
    }
    let code = match task
        .as_mut()
        .await
        .map_err(|e| MagicError::Crimpl(anyhow::anyhow!("run task failed: {e}")))?
    {
        Err(err) if err.downcast_ref::<Stopped>().is_some() => {
            return Err(MagicError::Interrupted(format!(
                "On {}: {err}; the server is free for the next command.",
                server.name()
            )));
        }
        other => other?,
    };
    match code {
        Some(0) => Ok(()),
        Some(code) => Err(MagicError::Crimpl(anyhow::anyhow!(
            "the script exited with code {code} on {}",
            server.name()
        ))),
        None => Err(MagicError::Crimpl(anyhow::anyhow!(
            "the script was killed by a signal on {}",
            server.name()
        ))),
    }
}

/// `%%crimpl submit`: create and start a job; its status updates live.
pub async fn submit(
    state: &State,
    args: SubmitArgs,
    body: &str,
    out: &Output,
    cancel: &Cancel,
) -> MagicResult {
    let server = state.server(&args.server)?;
    if let Some(job) = &args.job {
        crate::crimpl::layout::validate_job_name(job)?;
    }
    let options = SubmitOptions {
        job: args.job.clone(),
        files: local_paths(state, &args.files),
        nprocs: args.nprocs,
        slurm: SlurmOptions {
            walltime: args.walltime.clone(),
            ntasks: args.ntasks,
            nodes: args.nodes,
            mail_type: args.mail_type.clone(),
            chosen: args.slurm.settings(),
            extra: args.sbatch.clone(),
        },
        // `job create --nprocs N` chose the type, unless this submit chooses again.
        instance_type: args
            .instance_type
            .clone()
            .or_else(|| match (&args.job, args.nprocs) {
                (Some(job), None) => state.planned_job_instance(&server, job),
                _ => None,
            }),
        keep_instance: args.keep_instance,
        image_id: args.image_id.clone(),
        array: sweep(state, &args)?,
        instances: args.instances,
        after: match &args.after {
            Some(list) => {
                After::parse_list(list).map_err(|e| MagicError::Usage(format!("{e:#}")))?
            }
            None => Vec::new(),
        },
    };
    if args.trial_run {
        let plan = server.plan_submit(body, &options)?;
        out.display(&render::plan("submit", &plan), None);
        return Ok(());
    }
    let script = body.to_string();
    let submitter = server.clone();
    let progress = progress_to(out);
    let job = blocking(move || submitter.submit(&script, &options, &progress)).await?;
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    // Watched from the start, so that the first display says so.
    let _watching = displays.foreground(server.name(), &job);
    displays.add(
        server.name(),
        &starting(&job),
        &display_id(&server, &job),
        out,
    );
    if args.wait {
        let watching = Watch {
            server: server.clone(),
            job: job.clone(),
            stream_log: true,
            until: None,
            poll: Duration::from_millis(500),
        };
        return finish_wait(
            watch(watching, out.clone(), cancel.clone(), &displays).await?,
            &job,
            server.can_resubmit(),
        );
    }
    // Keep the job's displays current while the user goes on.
    watch_in_background(state, server, &job, out.clone());
    Ok(())
}

/// The tasks of a sweep (`--array` or `--params`), if it is one.
fn sweep(state: &State, args: &SubmitArgs) -> Result<Option<ArraySpec>, MagicError> {
    let spec = match (&args.array, &args.params) {
        (Some(spec), _) => ArraySpec::from_spec(spec, args.max_parallel),
        (None, Some(file)) => {
            let path = local_paths(state, std::slice::from_ref(file)).remove(0);
            ArraySpec::from_params(&path, args.max_parallel)
        }
        (None, None) if args.max_parallel.is_some() || args.instances.is_some() => {
            let option = match args.max_parallel {
                Some(_) => "--max-parallel",
                None => "--instances",
            };
            return Err(MagicError::Usage(format!(
                "{option} applies to a sweep: add --array SPEC or --params FILE"
            )));
        }
        (None, None) => return Ok(None),
    };
    spec.map(Some)
        .map_err(|e| MagicError::Usage(format!("{e:#}")))
}

/// The record of a job just submitted, before its status is read.
fn starting(job: &str) -> JobRecord {
    JobRecord::new(job, JobStatus::Starting)
}

/// `%crimpl jobs`.
pub async fn list(state: &State, args: &ServerArg, out: &Output) -> MagicResult {
    let server = state.server(args)?;
    let reader = server.clone();
    let records = blocking(move || reader.jobs()).await?;
    state.remember_jobs(&server, records.iter().map(|r| r.name.clone()));
    let displays = state.job_displays();
    for record in &records {
        displays.seen(server.name(), record);
    }
    out.display(&render::jobs_checked(server.name(), &records), None);
    Ok(())
}

/// `%crimpl status [JOB] [--tasks]`.
pub async fn status(state: &State, args: &StatusArgs, out: &Output) -> MagicResult {
    let server = state.server(&args.job.server)?;
    let job = state.job_name(&server, &args.job.job)?;
    let reader = server.clone();
    let name = job.clone();
    let record = blocking(move || reader.job(&name)).await?;
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    displays.seen(server.name(), &record);
    displays.add(server.name(), &record, &display_id(&server, &job), out);
    if args.tasks {
        if record.tasks.is_empty() {
            return Err(MagicError::Usage(format!(
                "job {job} is not an array: --tasks lists an array's tasks"
            )));
        }
        out.display(&render::tasks(&job, &record), None);
    }
    Ok(())
}

/// `%crimpl wait [JOB]`.
pub async fn wait(state: &State, args: WaitArgs, out: &Output, cancel: &Cancel) -> MagicResult {
    let server = state.server(&args.job.server)?;
    let resubmits = server.can_resubmit();
    let job = state.job_name(&server, &args.job.job)?;
    let reader = server.clone();
    let name = job.clone();
    let record = blocking(move || reader.job(&name)).await?;
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    let _watching = displays.foreground(server.name(), &job);
    displays.seen(server.name(), &record);
    displays.add(server.name(), &record, &display_id(&server, &job), out);
    let watching = Watch {
        server,
        job: job.clone(),
        stream_log: true,
        until: args.until.clone(),
        poll: Duration::from_secs_f64(args.poll),
    };
    let ended = watch(watching, out.clone(), cancel.clone(), &displays).await?;
    match (&args.until, ended) {
        (Some(until), Some(record)) if record.status.word() == until => Ok(()),
        (_, ended) => finish_wait(ended, &job, resubmits),
    }
}

/// The outcome of a wait: an error if the job ended badly or watching was
/// interrupted (naming `resubmit --failed` where the server `resubmits`).
fn finish_wait(ended: Option<JobRecord>, job: &str, resubmits: bool) -> MagicResult {
    match ended {
        None => Err(MagicError::Interrupted(format!(
            "Stopped watching job {job}; the job itself goes on (%crimpl status {job})."
        ))),
        Some(record) if record.status.is_error() && !record.tasks.is_empty() => {
            Err(MagicError::Crimpl(anyhow::anyhow!(
                "array {job} ended {}: {} ({}){}",
                record.shown(),
                array_views::counts(&record),
                array_views::not_complete(&record, 3),
                if resubmits {
                    format!("; %crimpl resubmit {job} --failed runs them again")
                } else {
                    String::new()
                }
            )))
        }
        Some(record) if record.status.is_error() => Err(MagicError::Crimpl(anyhow::anyhow!(
            "job {job} ended {} (%crimpl log {job} shows its output)",
            record.shown()
        ))),
        Some(_) => Ok(()),
    }
}

/// `%crimpl log [JOB]`.
pub async fn log(state: &State, args: LogArgs, out: &Output, cancel: &Cancel) -> MagicResult {
    let server = state.server(&args.job.server)?;
    let job = state.job_name(&server, &args.job.job)?;
    if args.slurm && server.config().kind() != "slurm" {
        return Err(MagicError::Usage(format!(
            "--slurm only applies to slurm servers; server {} is a {} server",
            server.name(),
            server.config().kind()
        )));
    }
    if !args.follow {
        let kind = if args.slurm {
            LogKind::Slurm
        } else {
            LogKind::Job
        };
        return print_log(&server, &job, kind, args.tail, out, cancel).await;
    }
    let reader = server.clone();
    let name = job.clone();
    let record = blocking(move || reader.job(&name)).await?;
    let displays = state.job_displays();
    let _watching = displays.foreground(server.name(), &job);
    displays.seen(server.name(), &record);
    displays.add(server.name(), &record, &display_id(&server, &job), out);
    let watching = Watch {
        server,
        job: job.clone(),
        stream_log: true,
        until: None,
        poll: Duration::from_millis(500),
    };
    match watch(watching, out.clone(), cancel.clone(), &displays).await? {
        None => Err(MagicError::Interrupted(format!(
            "Stopped following the log of job {job}; the job itself goes on."
        ))),
        Some(_) => Ok(()),
    }
}

/// Print the job's log (or its last `tail` lines) piece by piece, so a log
/// of any size passes through in bounded memory; an interrupt stops it.
async fn print_log(
    server: &Arc<Server>,
    job: &str,
    kind: LogKind,
    tail: Option<usize>,
    out: &Output,
    cancel: &Cancel,
) -> MagicResult {
    let mut offset = match tail {
        Some(lines) => {
            let (reader, name) = (server.clone(), job.to_string());
            blocking(move || reader.log_tail_offset(&name, kind, lines)).await?
        }
        None => 0,
    };
    let mut text = Utf8Stream::default();
    loop {
        let (reader, name) = (server.clone(), job.to_string());
        let piece = blocking(move || reader.log(&name, kind, offset, LOG_CHUNK)).await?;
        offset += piece.len() as u64;
        out.stream(StreamName::Stdout, &text.decode(&piece));
        if (piece.len() as u64) < LOG_CHUNK {
            out.stream(StreamName::Stdout, &text.finish());
            return Ok(());
        }
        if cancel.is_cancelled() {
            return Err(MagicError::Interrupted(format!(
                "Stopped printing the log of job {job} at byte {offset}."
            )));
        }
    }
}

/// The most entries `ls` shows; a larger job directory gets a summary.
const LS_ROWS: usize = 1000;

/// `%crimpl ls [JOB]`.
pub async fn ls(state: &State, args: &JobArgs, out: &Output) -> MagicResult {
    let server = state.server(&args.server)?;
    let job = state.job_name(&server, &args.job)?;
    let reader = server.clone();
    let name = job.clone();
    // An array is summarised, not listed task by task.
    let view = blocking(move || {
        Ok(if reader.is_array(&name)? {
            array_views::files(&name, &reader.task_outputs(&name)?)
        } else {
            render::files(&name, &reader.ls(&name, Some(LS_ROWS), false)?)
        })
    })
    .await?;
    out.display(&view, None);
    Ok(())
}

/// `%crimpl fetch [JOB] [PATH...]`.
pub async fn fetch(state: &State, args: FetchArgs, out: &Output) -> MagicResult {
    let server = state.server(&args.server)?;
    let job = state.job_name(&server, &args.job)?;
    let target = match &args.to {
        Some(to) if to.is_absolute() => to.clone(),
        Some(to) => state.working_dir().join(to),
        None => state.working_dir().clone(),
    };
    let reader = server.clone();
    let name = job.clone();
    let destination = target.clone();
    let progress = progress_to(out);
    let policy = UnpackPolicy {
        overwrite: args.overwrite,
        hidden: args.hidden,
        named: Vec::new(),
        strip_first_part: args.merge,
    };
    let report =
        blocking(move || reader.fetch(&name, &args.paths, &destination, policy, &progress)).await?;
    out.display(
        &render::fetch_report(&job, &target.display().to_string(), &report),
        None,
    );
    if report.has_failures() {
        return Err(MagicError::Crimpl(anyhow::anyhow!(
            "{} file(s) of job {job} could not be written into {} (see the table): \
             nothing of them was written; fix the cause, or fetch into another directory with --to",
            report.failed.len(),
            target.display()
        )));
    }
    Ok(())
}

/// `%crimpl kill [JOB]`.
pub async fn kill(state: &State, args: &JobArgs, out: &Output) -> MagicResult {
    let server = state.server(&args.server)?;
    let job = state.job_name(&server, &args.job)?;
    let killer = server.clone();
    let name = job.clone();
    let (outcome, record) = blocking(move || {
        let outcome = killer.kill(&name)?;
        Ok((outcome, killer.job(&name)?))
    })
    .await?;
    state.job_displays().seen(server.name(), &record);
    if let Some(note) = outcome.nothing_signalled(&job) {
        out.stream(StreamName::Stdout, &format!("{note}\n"));
    }
    out.display(&render::jobs(server.name(), &[record]), None);
    Ok(())
}

/// `%crimpl resubmit [JOB] [--failed]`.
pub async fn resubmit(state: &State, args: &ResubmitArgs, out: &Output) -> MagicResult {
    let server = state.server(&args.job.server)?;
    let job = state.job_name(&server, &args.job.job)?;
    let submitter = server.clone();
    let name = job.clone();
    let failed = args.failed;
    let tasks = blocking(move || submitter.resubmit(&name, failed)).await?;
    if tasks > 0 {
        out.display(
            &render::message(&format!("Running {tasks} task(s) of array {job} again.")),
            None,
        );
    }
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    let _watching = displays.foreground(server.name(), &job);
    displays.seen(server.name(), &starting(&job));
    displays.add(
        server.name(),
        &starting(&job),
        &display_id(&server, &job),
        out,
    );
    watch_in_background(state, server, &job, out.clone());
    Ok(())
}

/// `--files` relative to the notebook's directory.
fn local_paths(state: &State, files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|f| {
            if f.is_absolute() {
                f.clone()
            } else {
                state.working_dir().join(f)
            }
        })
        .collect()
}
