//! Any subnet and group: what `server new` checks of them before making
//! anything, so that a server's instances can be reached over SSH.

use anyhow::bail;

use super::{Ec2, InstanceSettings, Progress, SshAddress};

/// Check that the subnet exists, that the security group belongs to its
/// VPC and lets TCP connections to the SSH port in (from somewhere), and
/// say how instances get their address. Returns the subnet's zone.
pub fn check(
    ec2: &Ec2,
    settings: &InstanceSettings,
    progress: Progress<'_>,
) -> anyhow::Result<String> {
    let subnet_id = &settings.subnet_id;
    let group_id = &settings.security_group_id;
    let port = settings.ssh_port;
    let subnet = ec2.subnet(subnet_id)?;
    let group = ec2.security_group(group_id)?;
    if !group.vpc_id.is_empty() && group.vpc_id != subnet.vpc_id {
        bail!(
            "security group {group_id} belongs to {}, but subnet {subnet_id} to {}: give a \
             --security-group-id of {} (nothing was made)",
            group.vpc_id,
            subnet.vpc_id,
            subnet.vpc_id
        );
    }
    if !group.ingress.iter().any(|rule| rule.admits_tcp(port)) {
        bail!(
            "security group {group_id} lets no inbound TCP connection to port {port} in, so \
             instances could not be reached over SSH. Allow it from your address: aws ec2 \
             authorize-security-group-ingress --group-id {group_id} --protocol tcp --port \
             {port} --cidr YOUR.ADDRESS/32 (or give another --security-group-id), then run \
             server new again (nothing was made)"
        );
    }
    if settings.ssh_address == SshAddress::Public && !subnet.public_ip_on_launch {
        progress(&format!(
            "Subnet {subnet_id} maps no public IPv4 address: instances ask for one at launch \
             (its route table needs a route to an internet gateway)."
        ));
    }
    Ok(subnet.zone)
}
