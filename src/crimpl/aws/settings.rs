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

    /// The absolute mount point of the volume on an instance.
    pub fn mount_point(&self) -> String {
        let settings = &self.instances;
        match settings.directory.strip_prefix("~/") {
            Some(rest) => format!("/home/{}/{rest}", settings.username),
            None => settings.directory.clone(),
        }
    }
}
