//! `%crimpl job ...` (AWS job instances) and `%crimpl aws ...` (account housekeeping).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::cli::{AwsCommand, JobCommand};
use super::offload::{blocking, progress_to};
use super::state::State;
use super::{MagicError, MagicResult, Output, render};
use crate::crimpl::aws::account::Account;
use crate::crimpl::aws::cost::Charge;
use crate::crimpl::aws::{self, HELPER_LEVEL, Instance, Volume, prices};
use crate::crimpl::{Server, layout};

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
                    aws.start_job_instance(&job, &instance_type, None, false, max_minutes, &progress)?;
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

/// Run an `aws` housekeeping subcommand (only on resources tagged by crimpl),
/// in the regions it covers, which its answer names.
pub async fn account(command: AwsCommand, out: &Output) -> MagicResult {
    match &command {
        AwsCommand::TerminateAll { yes, .. } => confirm(*yes, "terminate-all")?,
        AwsCommand::DeleteAllVolumes { yes, .. } => confirm(*yes, "delete-all-volumes")?,
        _ => {}
    }
    let progress = progress_to(out);
    let view = blocking(move || {
        let coverage = match &command {
            AwsCommand::Instances { regions }
            | AwsCommand::Volumes { regions }
            | AwsCommand::Terminate { regions, .. }
            | AwsCommand::DeleteVolume { regions, .. }
            | AwsCommand::TerminateAll { regions, .. }
            | AwsCommand::DeleteAllVolumes { regions, .. }
            | AwsCommand::Cost { regions } => regions.coverage(),
        };
        let account = Account::covering(&coverage)?;
        let covered = account.covered();
        Ok(match command {
            AwsCommand::Instances { .. } => instances_view(&account.instances()?, &covered),
            AwsCommand::Volumes { .. } => volumes_view(&account.volumes()?, &covered),
            AwsCommand::Terminate { instance_id, .. } => {
                let region = account.terminate(&instance_id, &progress)?;
                render::message(&format!("Terminated {instance_id} in {region}"))
            }
            AwsCommand::DeleteVolume { volume_id, .. } => {
                let region = account.delete_volume(&volume_id, &progress)?;
                render::message(&format!("Deleted {volume_id} in {region}"))
            }
            AwsCommand::TerminateAll { .. } => {
                let ended = account.terminate_all(&progress)?;
                render::message(&format!(
                    "Terminated {} crimpl instance(s) in {covered}: {}",
                    ended.len(),
                    ended.join(" ")
                ))
            }
            AwsCommand::DeleteAllVolumes { .. } => {
                let deleted = account.delete_all_volumes(&progress)?;
                render::message(&format!(
                    "Deleted {} crimpl volume(s) in {covered}: {}",
                    deleted.len(),
                    deleted.join(" ")
                ))
            }
            AwsCommand::Cost { .. } => cost_view(&account.charges()?, &covered),
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
        "`aws {command}` acts on every crimpl resource of the account in the kernel's region \
         (or --region R, or --all-regions): add --yes to confirm"
    )))
}

fn instances_view(regions: &[(String, Vec<Instance>)], covered: &str) -> super::View {
    let rows: Vec<Vec<String>> = regions
        .iter()
        .flat_map(|(region, instances)| {
            instances.iter().map(move |i| {
                vec![
                    i.id.clone(),
                    region.clone(),
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
        })
        .collect();
    render::table(
        &format!("crimpl instances in {covered}"),
        &[
            "instance", "region", "server", "level", "job", "type", "state", "address",
        ],
        &rows,
    )
}

fn volumes_view(regions: &[(String, Vec<Volume>)], covered: &str) -> super::View {
    let rows: Vec<Vec<String>> = regions
        .iter()
        .flat_map(|(region, volumes)| {
            volumes.iter().map(move |v| {
                vec![
                    v.id.clone(),
                    region.clone(),
                    v.server_name.clone(),
                    format!("{} GiB", v.size),
                    v.zone.clone(),
                    v.state.clone(),
                    v.attached_to.join(" "),
                ]
            })
        })
        .collect();
    render::table(
        &format!("crimpl volumes in {covered}"),
        &[
            "volume",
            "region",
            "server",
            "size",
            "zone",
            "state",
            "attached to",
        ],
        &rows,
    )
}

fn cost_view(regions: &[(String, Vec<Charge>)], covered: &str) -> super::View {
    let mut rows = Vec::new();
    let mut total = 0.0;
    let mut unpriced = 0;
    for (region, charges) in regions {
        let listed = if region == prices::REGION {
            region.clone()
        } else {
            format!("{region} (at {} prices)", prices::REGION)
        };
        let mut subtotal = 0.0;
        for charge in charges {
            subtotal += charge.per_hour.unwrap_or(0.0);
            unpriced += usize::from(charge.per_hour.is_none());
            rows.push(vec![
                listed.clone(),
                charge.resource.clone(),
                charge.what.clone(),
                charge
                    .per_hour
                    .map_or("not in the price table".into(), |p| format!("${p:.4}")),
            ]);
        }
        if !charges.is_empty() && regions.len() > 1 {
            rows.push(vec![
                listed,
                String::new(),
                "region total".into(),
                format!("${subtotal:.4}"),
            ]);
        }
        total += subtotal;
    }
    let mut view = render::table(
        &format!("crimpl resources in {covered}: about ${total:.4} per hour"),
        &["region", "resource", "what is counted", "per hour"],
        &rows,
    );
    view.text.push_str(&format!(
        "Prices as of {}, {} on-demand Linux; other regions may differ. Counted: running \
         instances, every EBS volume of a crimpl instance (root volumes too, also of stopped \
         instances) and crimpl's volumes, public IPv4 addresses (${}/h each). Not counted: \
         snapshots, data transfer, provisioned IOPS, Elastic IPs not on a running instance.{}\n",
        prices::AS_OF,
        prices::REGION,
        prices::PUBLIC_IPV4_PER_HOUR,
        if unpriced > 0 {
            format!(" {unpriced} resource(s) not in the price table count as $0 here.")
        } else {
            String::new()
        }
    ));
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
                    Some(job) if instance.level == HELPER_LEVEL => (
                        format!("helper instance of job {job}'s sweep on server {name}"),
                        format!("%crimpl aws terminate {}", instance.id),
                    ),
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
