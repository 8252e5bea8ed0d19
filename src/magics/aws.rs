//! `%crimpl job ...` (AWS job instances) and `%crimpl aws ...` (account housekeeping).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::cli::{AwsCommand, JobCommand};
use super::context::Magics;
use super::watch::{blocking, progress_to};
use super::{MagicError, MagicResult, Output, render};
use crate::crimpl::aws::{self, Ec2, Instance, VOLUME_PER_GIB_MONTH, Volume};
use crate::crimpl::{Server, layout};

/// Run a `job` subcommand on an AWS server.
pub async fn job(magics: &Magics, command: JobCommand, out: &Output) -> MagicResult {
    let (server_arg, job) = match &command {
        JobCommand::Create { server, job, .. } => (server.clone(), job.clone()),
        JobCommand::Start(args)
        | JobCommand::Stop(args)
        | JobCommand::Terminate(args)
        | JobCommand::State(args) => (args.server.clone(), args.job.clone()),
    };
    let server = magics.server(&server_arg)?;
    if server.aws().is_none() {
        return Err(MagicError::Usage(format!(
            "server {} is {}: `job` commands manage AWS job instances",
            server.name(),
            server.config().kind()
        )));
    }
    let job = match (&command, job) {
        (JobCommand::Create { .. }, None) => layout::job_name_now(),
        (_, job) => magics.job_name(&server, &job)?,
    };
    layout::validate_job_name(&job)?;
    magics.set_latest_job(&server, &job);
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
        magics.plan_job_instance(&server, &job, &instance_type);
    }
    let progress = progress_to(out);
    let worker = server.clone();
    let message = blocking(move || {
        let aws = worker.aws().context("not an AWS server")?;
        let instance = || {
            aws.job_instance(&job)?
                .with_context(|| format!("job {job} has no instance on server {}", worker.name()))
        };
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
                    aws.start_job_instance(&job, &instance_type, None, false, max_minutes, &progress)?;
                    format!("Job {job}'s {instance_type} instance runs with the volume: submit to it with %%crimpl submit --job {job}")
                } else {
                    format!("Job {job} will run on a {instance_type} instance, launched by %%crimpl submit --job {job}")
                }
            }
            JobCommand::Start(_) => {
                let found = instance()?;
                aws.ec2().start_and_wait(&found.id, &progress)?;
                format!("Job {job}'s instance {} runs", found.id)
            }
            JobCommand::Stop(_) => {
                let found = instance()?;
                aws.ec2().stop_when_running(&found.id, &progress)?;
                format!("Stopping job {job}'s instance {}", found.id)
            }
            JobCommand::Terminate(_) => {
                let found = instance()?;
                aws.ec2().terminate(std::slice::from_ref(&found.id), &progress)?;
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

/// Run an `aws` housekeeping subcommand (only on resources tagged by crimpl).
pub async fn account(command: AwsCommand, out: &Output) -> MagicResult {
    match &command {
        AwsCommand::TerminateAll { yes } => confirm(*yes, "terminate-all")?,
        AwsCommand::DeleteAllVolumes { yes } => confirm(*yes, "delete-all-volumes")?,
        _ => {}
    }
    let progress = progress_to(out);
    let view = blocking(move || {
        let ec2 = Ec2::from_environment()?;
        Ok(match command {
            AwsCommand::Instances => instances_view(&ec2.instances(None)?),
            AwsCommand::Volumes => volumes_view(&ec2.volumes(None)?),
            AwsCommand::Terminate { instance_id } => {
                if !ec2.instances(None)?.iter().any(|i| i.id == instance_id) {
                    bail!("{instance_id} is not a running crimpl instance (%crimpl aws instances lists them)");
                }
                ec2.terminate(std::slice::from_ref(&instance_id), &progress)?;
                render::message(&format!("Terminated {instance_id}"))
            }
            AwsCommand::DeleteVolume { volume_id } => {
                if !ec2.volumes(None)?.iter().any(|v| v.id == volume_id) {
                    bail!("{volume_id} is not a crimpl volume (%crimpl aws volumes lists them)");
                }
                ec2.delete_volume_when_free(&volume_id, &progress)?;
                render::message(&format!("Deleted {volume_id}"))
            }
            AwsCommand::TerminateAll { .. } => {
                let ids: Vec<String> = ec2.instances(None)?.into_iter().map(|i| i.id).collect();
                ec2.terminate(&ids, &progress)?;
                render::message(&format!("Terminated {} crimpl instance(s) {}", ids.len(), ids.join(" ")))
            }
            AwsCommand::DeleteAllVolumes { .. } => {
                let ids: Vec<String> = ec2.instances(None)?.into_iter().map(|i| i.id).collect();
                ec2.terminate(&ids, &progress)?;
                let volumes: Vec<String> = ec2.volumes(None)?.into_iter().map(|v| v.id).collect();
                for volume in &volumes {
                    ec2.delete_volume_when_free(volume, &progress)?;
                }
                render::message(&format!("Deleted {} crimpl volume(s) {}", volumes.len(), volumes.join(" ")))
            }
            AwsCommand::Cost => cost_view(&ec2.instances(None)?, &ec2.volumes(None)?),
        })
    })
    .await?;
    out.display(&view, None);
    Ok(())
}

fn confirm(yes: bool, command: &str) -> Result<(), MagicError> {
    if yes {
        return Ok(());
    }
    Err(MagicError::Usage(format!(
        "`aws {command}` acts on every crimpl resource of the account: add --yes to confirm"
    )))
}

fn instances_view(instances: &[Instance]) -> super::View {
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.server_name.clone(),
                i.level.clone(),
                i.job_name.clone().unwrap_or_default(),
                i.instance_type.clone(),
                i.state.clone(),
                i.public_ip
                    .clone()
                    .or(i.private_ip.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    render::table(
        "crimpl instances",
        &[
            "instance", "server", "level", "job", "type", "state", "address",
        ],
        &rows,
    )
}

fn volumes_view(volumes: &[Volume]) -> super::View {
    let rows: Vec<Vec<String>> = volumes
        .iter()
        .map(|v| {
            vec![
                v.id.clone(),
                v.server_name.clone(),
                format!("{} GiB", v.size),
                v.zone.clone(),
                v.state.clone(),
                v.attached_to.join(" "),
            ]
        })
        .collect();
    render::table(
        "crimpl volumes",
        &["volume", "server", "size", "zone", "state", "attached to"],
        &rows,
    )
}

fn cost_view(instances: &[Instance], volumes: &[Volume]) -> super::View {
    let mut rows = Vec::new();
    let mut total = 0.0;
    for instance in instances
        .iter()
        .filter(|i| i.state == "running" || i.state == "pending")
    {
        let price = aws::hourly_price(&instance.instance_type);
        total += price.unwrap_or(0.0);
        rows.push(vec![
            instance.id.clone(),
            format!("{} {}", instance.level, instance.instance_type),
            price.map_or("not in the price table".into(), |p| format!("${p:.4}")),
        ]);
    }
    for volume in volumes {
        let hourly = f64::from(volume.size) * VOLUME_PER_GIB_MONTH / 730.0;
        total += hourly;
        rows.push(vec![
            volume.id.clone(),
            format!("volume {} GiB", volume.size),
            format!("${hourly:.4}"),
        ]);
    }
    let mut view = render::table(
        &format!(
            "Running crimpl resources: about ${total:.4} per hour (us-east-1 on-demand prices)"
        ),
        &["resource", "what", "per hour"],
        &rows,
    );
    view.text.push_str(
        "Stopped instances cost nothing but their volumes; check the AWS console for the truth.\n",
    );
    view
}

/// What to say when the kernel shuts down: each instance of the AWS
/// `servers` this kernel used that still runs (and costs money), with the
/// command that ends it. Bounded by `timeout` so shutdown never hangs.
pub async fn shutdown_notes(servers: Vec<Arc<Server>>, timeout: Duration) -> Vec<String> {
    if servers.is_empty() {
        return Vec::new();
    }
    let survey = blocking(move || {
        let mut notes = Vec::new();
        for server in &servers {
            let Some(aws) = server.aws() else { continue };
            for instance in aws.instances()? {
                if instance.state != "running" && instance.state != "pending" {
                    continue;
                }
                let name = server.name();
                let (what, end) = match &instance.job_name {
                    Some(job) => (
                        format!("instance of job {job} on server {name}"),
                        format!("%crimpl job terminate {job} --server {name}"),
                    ),
                    None => (
                        format!("server instance of {name}"),
                        format!("%crimpl server stop {name}"),
                    ),
                };
                notes.push(format!(
                    "crimpl instance {id} ({} {what}) is still {}: end it with `{end}` \
                     or `%crimpl aws terminate {id}`",
                    instance.instance_type,
                    instance.state,
                    id = instance.id,
                ));
            }
        }
        Ok(notes)
    });
    match tokio::time::timeout(timeout, survey).await {
        Ok(Ok(notes)) => notes,
        Ok(Err(err)) => vec![format!(
            "could not list crimpl's AWS instances at shutdown ({err}): check with %crimpl aws instances"
        )],
        Err(_) => vec![format!(
            "listing crimpl's AWS instances at shutdown took over {} s: check with %crimpl aws instances",
            timeout.as_secs()
        )],
    }
}
