//! An AWS server's saved settings: the volume that is its identity, its
//! region, and how its instances are launched and reached.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{SERVER_TYPE, for_nprocs, image, lifetime, offerings};

/// Which address of an instance to reach it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SshAddress {
    /// The public IPv4 address (from outside the VPC).
    Public,
    /// The private address (from inside the VPC, or a VPN).
    Private,
}

/// An AWS server's settings, as remembered (the volume is its identity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsConfig {
    /// The EBS volume holding the server directory.
    pub volume_id: String,
    /// Its size in GiB.
    pub volume_size: i32,
    /// Its availability zone (the subnet's).
    pub availability_zone: String,
    /// The region of every call for this server, whatever `AWS_REGION` says
    /// later (saved at `server new`; servers saved without one get the
    /// kernel's region saved at their first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// How its instances are launched and reached.
    #[serde(flatten)]
    pub instances: InstanceSettings,
}

/// How a server's instances are launched and reached (`server new aws` options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSettings {
    /// Private key for SSH (`~/` is expanded when the server is made).
    pub key_file: String,
    /// The EC2 key pair's name.
    pub key_name: String,
    /// Subnet for instances.
    pub subnet_id: String,
    /// Security group for instances.
    pub security_group_id: String,
    /// The image chosen with `--image-id` (else Ubuntu 24.04 LTS is pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The images pinned for its instances, by architecture (a copy of the
    /// volume's `crimpl.image.*` tags, which instances launch from).
    #[serde(default, skip_serializing_if = "image::Pins::is_empty")]
    pub images: image::Pins,
    /// Login user of the image.
    pub username: String,
    /// Address to SSH to.
    pub ssh_address: SshAddress,
    /// SSH port.
    pub ssh_port: u16,
    /// The server directory (where the volume is mounted).
    pub directory: String,
    /// Instances shut down after this many idle minutes (no job, no `run`, no login).
    pub idle_stop_minutes: u32,
    /// The server instance shuts down this many hours after each boot, whatever runs.
    #[serde(default = "default_max_hours")]
    pub max_hours: u32,
    /// A job instance shuts down this many minutes after its walltime.
    #[serde(default = "default_margin_minutes")]
    pub lifetime_margin_minutes: u32,
    /// The server instance's type (one the volume's zone offers).
    #[serde(default = "default_server_type")]
    pub server_type: String,
    /// Job instance types by `--nprocs`, smallest first, of those the zone
    /// offers (empty: the c6i table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_types: Vec<String>,
}

fn default_server_type() -> String {
    SERVER_TYPE.into()
}

fn default_max_hours() -> u32 {
    lifetime::DEFAULT_MAX_HOURS
}

fn default_margin_minutes() -> u32 {
    lifetime::DEFAULT_MARGIN_MINUTES
}

impl AwsConfig {
    /// The job instance type for `nprocs` processors: the smallest of the
    /// server's job types with that many vCPUs.
    pub fn job_type(&self, nprocs: u32) -> anyhow::Result<String> {
        let types = &self.instances.job_types;
        if types.is_empty() {
            return Ok(for_nprocs(nprocs)?.to_string());
        }
        types
            .iter()
            .find(|t| offerings::vcpus(t).is_some_and(|v| v >= nprocs))
            .cloned()
            .with_context(|| {
                format!(
                    "no job type offered in {} has {nprocs} vCPUs (the largest: {}): pass --instance-type",
                    self.availability_zone,
                    types.last().map_or("none", String::as_str)
                )
            })
    }

    /// The absolute mount point of the volume on an instance: the server
    /// directory as the kernel's commands reach it (they start in the
    /// user's home), for the boot script, which runs from `/` as root.
    pub fn mount_point(&self) -> String {
        absolute_directory(&self.instances.directory, &self.instances.username)
    }
}

/// Refuse a `--directory` the volume cannot be mounted over: the user's home
/// or one of its parents (the mount would hide the SSH key that lets the
/// kernel in), or a path with `..`.
pub fn check_mount_point(directory: &str, user: &str) -> anyhow::Result<()> {
    let mount = absolute_directory(directory, user);
    let home = absolute_directory("~", user);
    let hides_home = mount == "/" || format!("{home}/").starts_with(&format!("{mount}/"));
    if hides_home || mount.split('/').any(|part| part == "..") {
        anyhow::bail!(
            "--directory {directory} would be {mount} on the instances, where the volume is mounted: \
             it would hide {home} (and the SSH key that lets the kernel in). Choose a directory \
             inside the home directory, such as ~/crimpl"
        );
    }
    Ok(())
}

/// `directory` as an absolute path for `user` on an instance: `~`, `~/...`
/// and relative paths are in the user's home (`/root` for root, else
/// `/home/USER`, as on the images crimpl launches), as they are for a
/// command over SSH; an absolute path stays.
fn absolute_directory(directory: &str, user: &str) -> String {
    let home = if user == "root" {
        "/root".to_string()
    } else {
        format!("/home/{user}")
    };
    if directory == "~" {
        return home;
    }
    if directory.starts_with('/') {
        let trimmed = directory.trim_end_matches('/');
        return if trimmed.is_empty() { "/" } else { trimmed }.to_string();
    }
    let relative = directory.strip_prefix("~/").unwrap_or(directory);
    format!("{home}/{}", relative.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::{absolute_directory, check_mount_point};

    #[test]
    fn the_mount_point_is_where_the_kernels_commands_find_the_directory() {
        for (directory, user, absolute) in [
            ("~/crimpl", "ubuntu", "/home/ubuntu/crimpl"),
            ("~", "ubuntu", "/home/ubuntu"),
            ("crimpl/data/", "ubuntu", "/home/ubuntu/crimpl/data"),
            ("~/crimpl", "root", "/root/crimpl"),
            ("/data/crimpl", "root", "/data/crimpl"),
        ] {
            assert_eq!(
                absolute_directory(directory, user),
                absolute,
                "{directory} for {user}"
            );
        }
    }

    #[test]
    fn a_directory_whose_mount_would_hide_the_home_is_refused() {
        for refused in ["~", "/", "/home", "/home/ubuntu/", "~/../x"] {
            let err = check_mount_point(refused, "ubuntu")
                .unwrap_err()
                .to_string();
            assert!(err.contains("~/crimpl"), "{refused}: {err}");
        }
        for fine in ["~/crimpl", "crimpl", "/data", "/home/ubuntu2"] {
            assert!(check_mount_point(fine, "ubuntu").is_ok(), "{fine}");
        }
        assert!(check_mount_point("/root", "root").is_err());
    }
}
