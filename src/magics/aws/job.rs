//! `%crimpl job ...`: a job's own AWS instance (create, start, stop,
//! terminate, state).

use anyhow::Context;

use crate::crimpl::aws;
use crate::crimpl::layout;
use clap::Subcommand;

use crate::magics::args::{JobArgs, ServerArg};
use crate::magics::numbers;
use crate::magics::offload::{blocking, progress_to};
use crate::magics::state::State;
use crate::magics::{MagicError, MagicResult, Output, render};

/// `%crimpl job ...` (AWS job instances).
#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Plan a job (and with --start, launch its instance now).
    Create {
        #[command(flatten)]
        server: ServerArg,
        /// The job's name (default: from the date and time).
        #[arg(long)]
        job: Option<String>,
        /// Processors (1 to 65536): the instance is the smallest type with at least this many vCPUs.
        #[arg(long, default_value_t = 4, value_parser = numbers::nprocs())]
        nprocs: u32,
        /// The instance type instead of --nprocs.
        #[arg(long)]
        instance_type: Option<String>,
        /// Launch the instance now (it then holds the volume).
        #[arg(long)]
        start: bool,
    },
    /// Start a job's stopped instance.
    Start(JobArgs),
    /// Stop a job's instance (it keeps its state; the volume stays attached).
    Stop(JobArgs),
    /// Terminate a job's instance.
    Terminate(JobArgs),
    /// Show a job's instance and its state.
    State(JobArgs),
}

/// Run a `job` subcommand on an AWS server.
pub async fn job(state: &State, command: JobCommand, out: &Output) -> MagicResult {
    let (server_arg, job) = match &command {
        JobCommand::Create { server, job, .. } => (server.clone(), job.clone()),
        JobCommand::Start(args)
        | JobCommand::Stop(args)
        | JobCommand::Terminate(args)
        | JobCommand::State(args) => (args.server.clone(), args.job.clone()),
    };
    let server = state.server(&server_arg)?;
    if server.aws().is_none() {
        return Err(MagicError::Usage(format!(
            "server {} is {}: `job` commands manage AWS job instances",
            server.name(),
            server.config().kind()
        )));
    }
    let job = match (&command, job) {
        (JobCommand::Create { .. }, None) => layout::job_name_now(),
        (_, job) => state.job_name(&server, &job)?,
    };
    layout::validate_job_name(&job)?;
    state.set_latest_job(&server, &job);
    if let JobCommand::Create {
        nprocs,
        instance_type,
        ..
    } = &command
    {
        let instance_type = match instance_type {
            Some(t) => t.clone(),
            None => server
                .aws()
                .context("not an AWS server")?
                .config()
                .job_type(*nprocs)?,
        };
        state.plan_job_instance(&server, &job, &instance_type);
    }
    let progress = progress_to(out);
    let worker = server.clone();
    let message = blocking(move || {
        let aws = worker.aws().context("not an AWS server")?;
        Ok(match command {
            JobCommand::Create {
                nprocs,
                instance_type,
                start,
                ..
            } => {
                let instance_type = match instance_type {
                    Some(t) => t,
                    None => aws.config().job_type(nprocs)?,
                };
                if start {
                    let margin = aws.config().instances.lifetime_margin_minutes;
                    let max_minutes = aws::lifetime::job_minutes(None, margin)?;
                    aws.start_job_instance(
                        &job,
                        &instance_type,
                        None,
                        false,
                        max_minutes,
                        &progress,
                    )?;
                    format!("Job {job}'s {instance_type} instance runs with the volume: submit to it with %%crimpl submit --job {job}")
                } else {
                    format!("Job {job} will run on a {instance_type} instance, launched by %%crimpl submit --job {job}")
                }
            }
            JobCommand::Start(_) => {
                let found = aws.resume_job_instance(&job, &progress)?;
                format!("Job {job}'s instance {} runs", found.id)
            }
            JobCommand::Stop(_) => {
                let found = aws.stop_job_instance(&job, &progress)?;
                format!("Stopping job {job}'s instance {}", found.id)
            }
            JobCommand::Terminate(_) => {
                let found = aws.terminate_job_instance(&job, &progress)?;
                format!("Terminated job {job}'s instance {}", found.id)
            }
            JobCommand::State(_) => match aws.job_instance(&job)? {
                Some(found) => format!("Job {job}: instance {} ({}) is {}", found.id, found.instance_type, found.state),
                None => format!("Job {job}: no instance (not started, or terminated)"),
            },
        })
    })
    .await?;
    out.display(&render::message(&message), None);
    Ok(())
}
