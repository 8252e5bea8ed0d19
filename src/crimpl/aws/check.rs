//! The steps of an AWS server: the account and everything a launch needs
//! (checked with read-only calls and a dry run), the volume, and, when an
//! instance runs, the SSH and job steps on it. It never starts an instance.

use super::{AwsConfig, DryRun, Ec2, HELPER_LEVEL, Instance, JOB_TYPES, SshAddress, VOLUME_MARKER};
use crate::crimpl::checklist::{Checklist, Found, problem};
use crate::crimpl::scripts;
use crate::crimpl::server_steps;
use crate::crimpl::transport::{SshTarget, Transport, diagnose};

/// The account and launch steps, in order.
const ACCOUNT_STEPS: [&str; 8] = [
    "credentials and region",
    "subnet",
    "security group",
    "key pair",
    "image",
    "instance types",
    "volume",
    "launch (dry run)",
];

/// Check AWS server `name` with settings `aws`.
pub fn steps(list: &mut Checklist<'_>, name: &str, aws: &AwsConfig) {
    let ec2 = list.step(ACCOUNT_STEPS[0], || {
        let ec2 = Ec2::in_region(aws.region.as_deref()).map_err(|err| {
            problem(
                format!("{err:#}"),
                "set AWS_REGION, and AWS_PROFILE (after `aws configure` or `aws sso login`) or \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, in the kernel's environment \
                 (%crimpl env NAME=VALUE), then check again",
            )
        })?;
        let (_, credentials) = ec2.region_and_credentials().map_err(|err| {
            problem(
                format!("{err:#}"),
                "set AWS_PROFILE (after `aws configure` or `aws sso login`) or AWS_ACCESS_KEY_ID \
                 and AWS_SECRET_ACCESS_KEY in the kernel's environment, then check again",
            )
        })?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .map(|url| format!(", endpoint {url}"))
            .unwrap_or_default();
        let region = ec2.region();
        Ok((ec2, format!("region {region}, {credentials}{endpoint}")))
    });
    let Some(ec2) = ec2 else {
        list.skip_after_failure(&ACCOUNT_STEPS[1..]);
        list.skip_after_failure(&instance_names());
        return;
    };
    let settings = &aws.instances;
    let subnet_vpc = list.step("subnet", || subnet(&ec2, aws));
    list.step("security group", || {
        security_group(&ec2, aws, subnet_vpc.as_deref())
    });
    list.step("key pair", || key_pair(&ec2, aws));
    let image = list.step("image", || image(&ec2, aws));
    list.step("instance types", || instance_types(&ec2, aws));
    list.step("volume", || volume(&ec2, name, aws));
    match image {
        Some(image) => {
            list.step("launch (dry run)", || dry_run(&ec2, aws, &image));
        }
        None => list.skip_after_failure(&["launch (dry run)"]),
    }
    let holder = list.step("instance", || running_instance(&ec2, name));
    let Some(holder) = holder else {
        list.skip_after_failure(&instance_names()[1..]);
        return;
    };
    let Some(instance) = holder else {
        list.skip(
            &instance_names()[1..],
            "not tried: no instance of this server runs, and starting one costs money",
            Some(&format!(
                "to check the instance too: %crimpl server start {name}, then %crimpl server \
                 check {name} (and %crimpl server stop {name} when done)"
            )),
        );
        return;
    };
    let target = list.step("instance address", || address(aws, &instance));
    let Some(target) = target else {
        list.skip_after_failure(&instance_names()[2..]);
        return;
    };
    let Some(transport) = diagnose::connect_steps(list, &target, name) else {
        list.skip_after_failure(&job_names());
        return;
    };
    server_steps::job_steps(list, &transport, &settings.directory, false);
    list.step("volume mounted", || mounted(&transport, name, aws));
}

/// The steps on a running instance, after the account steps.
fn instance_names() -> Vec<&'static str> {
    let mut names = vec!["instance", "instance address"];
    names.extend(diagnose::STEPS);
    names.extend(job_names());
    names
}

fn job_names() -> Vec<&'static str> {
    let mut names = server_steps::names(false);
    names.push("volume mounted");
    names
}

/// How to change a setting: `what` is the option to give (`another --subnet-id`).
fn replace_hint(what: &str) -> String {
    format!(
        "make the server again with {what} (%crimpl server new aws ... --replace keeps its volume)"
    )
}

fn subnet(ec2: &Ec2, aws: &AwsConfig) -> Found<String> {
    let id = &aws.instances.subnet_id;
    let subnet = ec2
        .subnet(id)
        .map_err(|err| problem(format!("{err:#}"), replace_hint("another --subnet-id")))?;
    if subnet.zone != aws.availability_zone {
        return Err(problem(
            format!(
                "{id} is in {}, but the volume {} is in {}: instances there cannot attach it",
                subnet.zone, aws.volume_id, aws.availability_zone
            ),
            replace_hint(&format!("a --subnet-id in {}", aws.availability_zone)),
        ));
    }
    let public = match (subnet.public_ip_on_launch, aws.instances.ssh_address) {
        (true, _) => "instances get a public IPv4 address",
        (false, SshAddress::Public) => {
            "it maps no public IPv4 address of its own: instances ask for one at launch \
             (its route table needs an internet gateway)"
        }
        (false, SshAddress::Private) => "instances get no public IPv4 address",
    };
    let reached = match aws.instances.ssh_address {
        SshAddress::Public => "reached by their public address",
        SshAddress::Private => "reached by their private address",
    };
    Ok((
        subnet.vpc_id.clone(),
        format!(
            "{id} in {} ({}): {public}, {reached}",
            subnet.zone, subnet.vpc_id
        ),
    ))
}

fn security_group(ec2: &Ec2, aws: &AwsConfig, subnet_vpc: Option<&str>) -> Found<()> {
    let id = &aws.instances.security_group_id;
    let port = aws.instances.ssh_port;
    let group = ec2.security_group(id).map_err(|err| {
        problem(
            format!("{err:#}"),
            replace_hint("another --security-group-id"),
        )
    })?;
    if let Some(vpc) = subnet_vpc.filter(|vpc| !group.vpc_id.is_empty() && *vpc != group.vpc_id) {
        return Err(problem(
            format!("{id} belongs to {}, the subnet to {vpc}", group.vpc_id),
            replace_hint(&format!("a --security-group-id of {vpc}")),
        ));
    }
    let sources: Vec<String> = group
        .ingress
        .iter()
        .filter(|rule| rule.admits_tcp(port))
        .flat_map(|rule| rule.sources.clone())
        .collect();
    if sources.is_empty() {
        return Err(problem(
            format!("{id} lets no inbound TCP connection to port {port} in"),
            format!(
                "allow SSH from your address: aws ec2 authorize-security-group-ingress --group-id \
                 {id} --protocol tcp --port {port} --cidr YOUR.ADDRESS/32"
            ),
        ));
    }
    Ok((
        (),
        format!("{id} lets TCP port {port} in from {}", sources.join(", ")),
    ))
}

fn key_pair(ec2: &Ec2, aws: &AwsConfig) -> Found<()> {
    let settings = &aws.instances;
    let name = &settings.key_name;
    let file = &settings.key_file;
    let fingerprint = ec2
        .key_pair(name)
        .map_err(|err| problem(format!("{err:#}"), replace_hint("another --key-name")))?;
    let Some(fingerprint) = fingerprint else {
        return Err(problem(
            format!("EC2 has no key pair named {name} in this region"),
            format!(
                "import the public half of {file}: aws ec2 import-key-pair --key-name {name} \
                 --public-key-material fileb://{file}.pub, or {}",
                replace_hint("another --key-name")
            ),
        ));
    };
    if let Err(err) = std::fs::File::open(file) {
        return Err(problem(
            format!(
                "key pair {name} exists, but its private key file {file} cannot be read: {err}"
            ),
            format!(
                "put the key pair's private key at {file}, or {}",
                replace_hint("another --key-file")
            ),
        ));
    }
    Ok(((), format!("{name} ({fingerprint}); private key {file}")))
}

fn image(ec2: &Ec2, aws: &AwsConfig) -> Found<String> {
    let next = || replace_hint("an --image-id of this region");
    let update = || {
        format!(
            "%crimpl server update-image NAME pins the current image, or {}",
            next()
        )
    };
    let pinned = aws
        .instances
        .images
        .get("x86_64")
        .or(aws.instances.image_id.as_ref());
    let id = match pinned {
        Some(id) => id.clone(),
        None => {
            ec2.newest_noble("x86_64")
                .map_err(|err| problem(format!("{err:#}"), next()))?
                .ok_or_else(|| problem("no Ubuntu 24.04 LTS image in this region", next()))?
                .id
        }
    };
    let image = ec2
        .image(&id)
        .map_err(|err| problem(format!("{err:#}"), next()))?
        .ok_or_else(|| problem(format!("image {id} is not in this region"), update()))?;
    if image.state != "available" {
        return Err(problem(format!("image {id} is {}", image.state), update()));
    }
    let which = if aws.instances.image_id.is_some() {
        "--image-id"
    } else if pinned.is_some() {
        "pinned Ubuntu 24.04 LTS"
    } else {
        "newest Ubuntu 24.04 LTS, pinned at the first launch"
    };
    Ok((
        image.id.clone(),
        format!(
            "{} ({which}: {}, {})",
            image.id, image.name, image.architecture
        ),
    ))
}

fn instance_types(ec2: &Ec2, aws: &AwsConfig) -> Found<()> {
    let zone = &aws.availability_zone;
    let server_type = aws.instances.server_type.as_str();
    let job_types: Vec<&str> = if aws.instances.job_types.is_empty() {
        JOB_TYPES.iter().map(|(name, _, _)| *name).collect()
    } else {
        aws.instances.job_types.iter().map(String::as_str).collect()
    };
    let wanted: Vec<&str> = std::iter::once(server_type)
        .chain(job_types.iter().copied())
        .collect();
    let offered = ec2.offered_types(zone, &wanted).map_err(|err| {
        problem(
            format!("{err:#}"),
            "check that the credentials may call ec2:DescribeInstanceTypeOfferings",
        )
    })?;
    let absent: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|t| !offered.iter().any(|o| o == t))
        .collect();
    if !absent.is_empty() {
        return Err(problem(
            format!("not offered in {zone}: {}", absent.join(", ")),
            format!(
                "submit with --instance-type of a type offered in {zone}, or {}",
                replace_hint("a --subnet-id in a zone that offers them")
            ),
        ));
    }
    Ok((
        (),
        format!(
            "{zone} offers {server_type} (server) and {} to {} (jobs)",
            job_types[0],
            job_types[job_types.len() - 1]
        ),
    ))
}

fn volume(ec2: &Ec2, name: &str, aws: &AwsConfig) -> Found<()> {
    let id = &aws.volume_id;
    let volume = ec2
        .volumes(Some(name))
        .map_err(|err| problem(format!("{err:#}"), "check the credentials' EC2 permissions"))?
        .into_iter()
        .find(|v| v.id == *id)
        .ok_or_else(|| {
            problem(
                format!("the volume {id} of server {name} is gone (and its files with it)"),
                format!(
                    "forget the server (%crimpl server remove {name}), then make it again: \
                     %crimpl server new aws {name} ... creates a new volume"
                ),
            )
        })?;
    if !matches!(volume.state.as_str(), "available" | "in-use") {
        return Err(problem(
            format!("{id} is {}", volume.state),
            "wait a minute and check again; if it stays so, look at the volume in the EC2 console",
        ));
    }
    let attached = if volume.attached_to.is_empty() {
        "attached to no instance".to_string()
    } else {
        format!("attached to {}", volume.attached_to.join(", "))
    };
    Ok((
        (),
        format!(
            "{id}: {} GiB in {}, {}, {attached}",
            volume.size, volume.zone, volume.state
        ),
    ))
}

fn dry_run(ec2: &Ec2, aws: &AwsConfig, image: &str) -> Found<()> {
    let settings = &aws.instances;
    let answer = ec2
        .dry_run_launch(
            &settings.server_type,
            image,
            &settings.subnet_id,
            &settings.security_group_id,
            &settings.key_name,
        )
        .map_err(|err| problem(format!("{err:#}"), "check the network, then check again"))?;
    match answer {
        DryRun::WouldSucceed => Ok((
            (),
            format!(
                "EC2 would launch a {} from {image} (a dry run: nothing started)",
                settings.server_type
            ),
        )),
        DryRun::Refused(code, message) if code == "UnauthorizedOperation" => Err(problem(
            format!("{code}: {message}"),
            "the credentials may not launch instances: ask the account's admin for \
             ec2:RunInstances (and ec2:AttachVolume, ec2:CreateTags, ec2:TerminateInstances)",
        )),
        DryRun::Refused(code, message) => Err(problem(
            format!("{code}: {message}"),
            "fix what EC2 names above (the steps before this one point to the setting)",
        )),
    }
}

/// The running instance of server `name` (the one holding its volume), if any.
fn running_instance(ec2: &Ec2, name: &str) -> Found<Option<Instance>> {
    let instances = ec2
        .instances(Some(name))
        .map_err(|err| problem(format!("{err:#}"), "check the credentials' EC2 permissions"))?;
    let running = instances
        .iter()
        .find(|i| i.state == "running" && i.level != HELPER_LEVEL)
        .cloned();
    let detail = match (&running, instances.first()) {
        (Some(i), _) => format!("{} instance {} runs ({})", i.level, i.id, i.instance_type),
        (None, Some(i)) => format!("{} instance {} is {}", i.level, i.id, i.state),
        (None, None) => "no instance exists".into(),
    };
    Ok((running, detail))
}

fn address(aws: &AwsConfig, instance: &Instance) -> Found<SshTarget> {
    let settings = &aws.instances;
    let address = match settings.ssh_address {
        SshAddress::Public => instance.public_ip.clone(),
        SshAddress::Private => instance.private_ip.clone(),
    }
    .ok_or_else(|| {
        problem(
            format!(
                "instance {} has no {:?} address",
                instance.id, settings.ssh_address
            ),
            replace_hint("another --ssh-address"),
        )
    })?;
    let target = SshTarget::direct(
        &address,
        settings.ssh_port,
        &settings.username,
        &settings.key_file,
        &instance.id,
    )
    .map_err(|err| problem(format!("{err:#}"), "set HOME for the kernel"))?;
    let detail = format!(
        "{} (host key recorded as {})",
        target.describe(),
        target.known_hosts_name()
    );
    Ok((target, detail))
}

fn mounted(transport: &dyn Transport, name: &str, aws: &AwsConfig) -> Found<()> {
    let mount = aws.mount_point();
    let command = format!(
        "test -f {}/{VOLUME_MARKER}",
        scripts::quote(&mount).map_err(|err| problem(format!("{err:#}"), "fix --directory"))?
    );
    let ok = transport
        .capture(&command, None)
        .map(|c| c.finished.success())
        .map_err(|err| problem(format!("{err:#}"), "check again"))?;
    if !ok {
        return Err(problem(
            format!("the volume is not mounted at {mount} (no {VOLUME_MARKER} there)"),
            format!(
                "the instance's boot script mounts it: see the instance's system log in the EC2 \
                 console; %crimpl server stop {name}, then server start {name}, tries again"
            ),
        ));
    }
    Ok(((), format!("the volume is mounted at {mount}")))
}
