//! `%crimpl aws ...`: account housekeeping (instances, volumes, costs of
//! what crimpl tagged, in the regions it covers).

use crate::crimpl::aws::account::Account;
use crate::crimpl::aws::cost::Charge;
use crate::crimpl::aws::{Instance, Volume, prices};
use clap::{Args, Subcommand};

use crate::magics::offload::{blocking, progress_to};
use crate::magics::{MagicError, MagicResult, Output, View, render};

/// `%crimpl aws ...`
#[derive(Subcommand, Debug)]
pub enum AwsCommand {
    /// Every instance tagged by crimpl, with its state and region.
    Instances {
        #[command(flatten)]
        regions: Regions,
    },
    /// Every volume tagged by crimpl.
    Volumes {
        #[command(flatten)]
        regions: Regions,
    },
    /// Terminate one crimpl instance.
    Terminate {
        /// The instance id (i-...).
        instance_id: String,
        #[command(flatten)]
        regions: Regions,
    },
    /// Delete one crimpl volume (it must be detached).
    DeleteVolume {
        /// The volume id (vol-...).
        volume_id: String,
        #[command(flatten)]
        regions: Regions,
    },
    /// Terminate every crimpl instance.
    TerminateAll {
        /// Confirm.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        regions: Regions,
    },
    /// Delete every crimpl volume (terminating their instances first).
    DeleteAllVolumes {
        /// Confirm.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        regions: Regions,
    },
    /// Estimate what crimpl's instances, volumes and public addresses cost per hour.
    Cost {
        #[command(flatten)]
        regions: Regions,
    },
}

/// The regions an `aws` command covers (default: the kernel's, from
/// `AWS_REGION` or the profile).
#[derive(Args, Debug, Clone, Default)]
pub struct Regions {
    /// Cover every region enabled for the account.
    #[arg(long)]
    pub all_regions: bool,
    /// Cover this region instead of the kernel's.
    #[arg(long, conflicts_with = "all_regions")]
    pub region: Option<String>,
}

impl Regions {
    /// The coverage these options ask for.
    pub fn coverage(&self) -> crate::crimpl::aws::region::Coverage {
        use crate::crimpl::aws::region::Coverage;
        match (&self.region, self.all_regions) {
            (_, true) => Coverage::All,
            (Some(region), false) => Coverage::Named(region.clone()),
            (None, false) => Coverage::Current,
        }
    }
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

fn instances_view(regions: &[(String, Vec<Instance>)], covered: &str) -> View {
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

fn volumes_view(regions: &[(String, Vec<Volume>)], covered: &str) -> View {
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

fn cost_view(regions: &[(String, Vec<Charge>)], covered: &str) -> View {
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
