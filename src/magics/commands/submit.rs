//! `%%crimpl submit`: the cell body as a job (a sweep with `--array` or
//! `--params`), created and started detached; its status updates live.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::crimpl::after::After;
use crate::crimpl::array::ArraySpec;
use crate::crimpl::slurm::{SlurmDefaults, SlurmOptions};
use crate::crimpl::{ExistingJob, SubmitOptions, SubmitOutcome};
use crate::magics::args::ServerArg;
use crate::magics::job_command::{finish_wait, local_paths, starting};
use crate::magics::numbers;
use crate::magics::offload::{blocking, progress_to};
use crate::magics::state::State;
use crate::magics::watch::{Watch, display_id, watch, watch_in_background};
use crate::magics::{Cancel, MagicError, MagicResult, Output, render};

/// `%%crimpl submit`.
#[derive(Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// The job's name (default: from the date and time).
    #[arg(long)]
    pub job: Option<String>,
    /// Files to send with the script.
    #[arg(long, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Wait for the job here, streaming status and log lines.
    #[arg(long)]
    pub wait: bool,
    /// Processors for the job, 1 to 65536 (Slurm: CPUs for one run of the script, on one node).
    #[arg(long, value_parser = numbers::nprocs())]
    pub nprocs: Option<u32>,
    /// Show what would be sent and run, and send nothing.
    #[arg(long)]
    pub trial_run: bool,
    /// With --job: run the job of that name again, whatever its state (same script, inputs and options).
    #[arg(long, requires = "job", conflicts_with = "replace")]
    pub rerun: bool,
    /// With --job: stop and remove the job of that name (its files too), and submit this cell instead.
    #[arg(long, requires = "job")]
    pub replace: bool,
    /// A sweep: one task per id, e.g. 1-100, 0-99:3 or 1,5,9. Each task runs in
    /// its own directory (task-0007/) with CRIMPL_TASK_ID and CRIMPL_TASK_COUNT set.
    #[arg(
        long,
        value_name = "SPEC",
        conflicts_with = "params",
        help_heading = "Sweeps"
    )]
    pub array: Option<String>,
    /// A sweep over a parameter file: one task per row of a CSV (with a header)
    /// or JSON-lines file; its columns become environment variables.
    #[arg(long, value_name = "FILE", help_heading = "Sweeps")]
    pub params: Option<PathBuf>,
    /// A sweep: at most N tasks at once, 1 to 100000 (default: the host's CPUs; Slurm: no limit).
    #[arg(long, value_name = "N", value_parser = numbers::max_parallel(), help_heading = "Sweeps")]
    pub max_parallel: Option<u32>,
    /// Start only after these jobs of the server end: JOB[,JOB...][:ok|:any]
    /// (ok, the default: only if they all completed; otherwise this job ends canceled).
    #[arg(long, value_name = "JOBS")]
    pub after: Option<String>,
    /// Slurm: the time limit (default: the partition's). AWS: the job instance
    /// shuts down at this time plus the server's --lifetime-margin-minutes.
    #[arg(long, help_heading = "Slurm")]
    pub walltime: Option<String>,
    /// Slurm: tasks, for MPI-style jobs (--ntasks).
    #[arg(long, help_heading = "Slurm", value_parser = numbers::nprocs())]
    pub ntasks: Option<u32>,
    /// Slurm: nodes (--nodes).
    #[arg(long, help_heading = "Slurm", value_parser = numbers::nprocs())]
    pub nodes: Option<u32>,
    #[command(flatten)]
    pub slurm: SlurmDefaults,
    /// Slurm: when to send mail (default END,FAIL).
    #[arg(long, help_heading = "Slurm")]
    pub mail_type: Option<String>,
    /// AWS: the job instance's type (default: the smallest with --nprocs vCPUs).
    #[arg(long, help_heading = "AWS")]
    pub instance_type: Option<String>,
    /// AWS: keep the job's instance running when the script ends.
    #[arg(long, help_heading = "AWS")]
    pub keep_instance: bool,
    /// AWS: launch the job's instance from this image instead of the server's pinned one.
    #[arg(long, help_heading = "AWS")]
    pub image_id: Option<String>,
    /// AWS, a sweep: spread its tasks over K job instances of the same type, 1 to 64
    /// (the first holds the volume; the others end with the sweep).
    #[arg(long, value_name = "K", value_parser = numbers::instances(), help_heading = "AWS")]
    pub instances: Option<u32>,
    /// Slurm: any other sbatch option, one per --sbatch (repeatable: --sbatch=--hold --sbatch="--comment=two words").
    #[arg(
        long = "sbatch",
        value_name = "ARG",
        allow_hyphen_values = true,
        help_heading = "Slurm"
    )]
    pub sbatch: Vec<String>,
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
            chosen: args.slurm.clone(),
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
        existing: match (args.rerun, args.replace) {
            (true, _) => ExistingJob::Rerun,
            (_, true) => ExistingJob::Replace,
            _ => ExistingJob::Reattach,
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
    let submitted = blocking(move || submitter.submit(&script, &options, &progress)).await?;
    let job = submitted.job;
    if let Some(said) = outcome_message(&job, &submitted.outcome) {
        out.display(&render::message(&said), None);
    }
    state.set_latest_job(&server, &job);
    let displays = state.job_displays();
    // Watched from the start, so that the first display says so.
    let _watching = displays.foreground(server.name(), &job);
    let first = match submitted.outcome {
        SubmitOutcome::Reused | SubmitOutcome::Following => {
            let reader = server.clone();
            let name = job.clone();
            blocking(move || reader.job(&name)).await?
        }
        _ => starting(&job),
    };
    displays.add(server.name(), &first, &display_id(&server, &job), out);
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

/// What the cell says of how the submit met an existing job of its name.
fn outcome_message(job: &str, outcome: &SubmitOutcome) -> Option<String> {
    const SAME: &str = "was submitted earlier with the same script, inputs and options";
    Some(match outcome {
        SubmitOutcome::New => return None,
        SubmitOutcome::Reused => format!(
            "Job {job} {SAME} and completed: reused as it is, nothing runs again \
             (--rerun runs it again)."
        ),
        SubmitOutcome::Following => format!("Job {job} {SAME} and has not ended: following it."),
        SubmitOutcome::Resumed { tasks: 0, after } => {
            format!("Job {job} {SAME} and ended {after}: running it again.")
        }
        SubmitOutcome::Resumed { tasks, after } => format!(
            "Job {job} {SAME} and ended {after}: running again its {tasks} task(s) that did not complete."
        ),
        SubmitOutcome::Rerun { tasks: 0 } => format!("Running job {job} again (--rerun)."),
        SubmitOutcome::Rerun { tasks } => {
            format!("Running all {tasks} tasks of job {job} again (--rerun).")
        }
        SubmitOutcome::Finished => format!(
            "An earlier submit of job {job} was cut short before the job started: \
             what it left was cleared, and the job submitted again."
        ),
        SubmitOutcome::Replaced { removed, more } => {
            let mut said = format!("Replaced job {job}: the old job was stopped and removed");
            if removed.is_empty() {
                said.push('.');
            } else {
                said.push_str(", with its files:");
                for file in removed {
                    said.push_str(&format!("\n  {file}"));
                }
                if *more > 0 {
                    said.push_str(&format!("\n  ... and {more} more"));
                }
            }
            said
        }
    })
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
