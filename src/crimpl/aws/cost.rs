//! What crimpl's resources in one region cost per hour, line by line: running
//! instances, the EBS volumes of every crimpl instance (root volumes too,
//! also of stopped instances) and crimpl's own volumes (attached or not),
//! and the public IPv4 addresses of running instances, priced from
//! [`super::prices`].

use super::prices;
use super::{Ec2, Instance};

/// One billed resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// Its id (`i-...`, `vol-...`) or address.
    pub resource: String,
    /// What is counted, in words.
    pub what: String,
    /// USD per hour; `None` when the table has no price for it.
    pub per_hour: Option<f64>,
}

/// The charges of crimpl's resources in `ec2`'s region.
pub fn charges(ec2: &Ec2) -> anyhow::Result<Vec<Charge>> {
    let instances = ec2.instances(None)?;
    let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
    let disks = ec2.billed_disks(&ids)?;
    let mut charges = Vec::new();
    for instance in &instances {
        charges.push(instance_charge(instance));
        if let Some(address) = instance
            .public_ip
            .as_ref()
            .filter(|_| bills_hours(instance))
        {
            charges.push(Charge {
                resource: address.clone(),
                what: format!("public IPv4 address of {}", instance.id),
                per_hour: Some(prices::PUBLIC_IPV4_PER_HOUR),
            });
        }
    }
    for disk in disks {
        let holder = disk
            .attached_to
            .first()
            .and_then(|id| instances.iter().find(|i| &i.id == id));
        let role = match (disk.crimpl, holder) {
            (true, Some(i)) => format!("server volume, attached to {} ({})", i.id, i.state),
            (true, None) if disk.attached_to.is_empty() => "server volume, not attached".into(),
            (true, None) => format!("server volume, attached to {}", disk.attached_to.join(" ")),
            (false, Some(i)) => format!("volume of {} instance {} ({})", i.level, i.id, i.state),
            (false, None) => format!("volume attached to {}", disk.attached_to.join(" ")),
        };
        charges.push(Charge {
            resource: disk.id.clone(),
            what: format!("{} GiB {} {role}", disk.size, disk.volume_type),
            per_hour: prices::volume_per_hour(&disk.volume_type, disk.size),
        });
    }
    Ok(charges)
}

/// Whether EC2 bills instance-hours (and the auto-assigned address) in its state.
fn bills_hours(instance: &Instance) -> bool {
    matches!(instance.state.as_str(), "pending" | "running")
}

fn instance_charge(instance: &Instance) -> Charge {
    let what = format!(
        "{} instance {} {}",
        instance.level, instance.instance_type, instance.state
    );
    if bills_hours(instance) {
        Charge {
            resource: instance.id.clone(),
            what: format!("{what} (on-demand Linux)"),
            per_hour: prices::instance_per_hour(&instance.instance_type),
        }
    } else {
        Charge {
            resource: instance.id.clone(),
            what: format!("{what}: no instance-hours, its volumes below"),
            per_hour: Some(0.0),
        }
    }
}
