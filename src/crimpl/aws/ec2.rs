//! The EC2 calls crimpl makes, as blocking functions over `aws-sdk-ec2`.
//!
//! Credentials, region, profile and endpoint come from the standard AWS
//! chain (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...), with the
//! SDK's own retries. The SDK is async: calls run on a small runtime owned
//! here, so callers (the engine's blocking threads) need none.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, anyhow};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::{
    Filter, HttpTokensState, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceStateName, InstanceType, ResourceType,
    ShutdownBehavior, Tag, TagSpecification,
};

use super::tags;

mod billing;
mod describe;
mod images;
mod offerings;
mod regions;
mod waits;

pub use waits::VOLUME_TIMEOUT;

pub use describe::{DryRun, Image};
pub use images::{CANONICAL, noble_pattern};
pub use waits::Progress;

/// An EC2 call that failed: what was asked, EC2's error code (when it gave
/// one) and the SDK's whole account of it.
#[derive(Debug)]
pub struct AwsError {
    /// The call (`AttachVolume`, ...).
    pub what: String,
    /// EC2's error code (`VolumeInUse`, `InvalidInstanceID.NotFound`, ...).
    pub code: Option<String>,
    /// The SDK's account of the error.
    pub detail: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AWS {} failed: {}", self.what, self.detail)
    }
}

impl std::error::Error for AwsError {}

/// EC2's error code of a failed call, if `err` is one.
pub fn error_code(err: &anyhow::Error) -> Option<&str> {
    err.downcast_ref::<AwsError>()?.code.as_deref()
}

/// One crimpl instance as EC2 describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `i-...`.
    pub id: String,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down`, `terminated`.
    pub state: String,
    /// Instance type.
    pub instance_type: String,
    /// The image it was launched from (`ami-...`).
    pub image_id: String,
    /// Private IPv4 address.
    pub private_ip: Option<String>,
    /// Public IPv4 address.
    pub public_ip: Option<String>,
    /// `crimpl.level`: `server` or `job`.
    pub level: String,
    /// `crimpl.server_name`.
    pub server_name: String,
    /// `crimpl.job_name`, for job instances.
    pub job_name: Option<String>,
    /// Whether the job instance is to be kept after its job.
    pub keep: bool,
    /// Why it last changed state, as EC2 says (`Server.SpotInstanceTermination:
    /// Spot instance termination`), if it says.
    pub state_reason: Option<String>,
}

impl Instance {
    /// The job this instance is to end with: a job instance not kept.
    pub fn ends_with(&self) -> Option<&str> {
        self.job_name
            .as_deref()
            .filter(|_| self.level == "job" && !self.keep)
    }
}

/// One crimpl volume as EC2 describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// `vol-...`.
    pub id: String,
    /// Size in GiB.
    pub size: i32,
    /// Availability zone.
    pub zone: String,
    /// `available`, `in-use`, ...
    pub state: String,
    /// Instances it is attached to.
    pub attached_to: Vec<String>,
    /// `crimpl.server_name`.
    pub server_name: String,
    /// Every tag.
    pub tags: Vec<(String, String)>,
}

/// What to launch.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Instance type.
    pub instance_type: String,
    /// AMI.
    pub image_id: String,
    /// Subnet.
    pub subnet_id: String,
    /// Security group.
    pub security_group_id: String,
    /// Key pair name.
    pub key_name: String,
    /// Boot script.
    pub user_data: String,
    /// Terminate (job instances) or stop (the server instance) on shutdown.
    pub terminate_on_shutdown: bool,
    /// Ask for a public IPv4 address, whether or not the subnet maps one.
    pub public_ip: bool,
    /// crimpl's tags.
    pub tags: Vec<(String, String)>,
}

/// A connection to the EC2 API.
pub struct Ec2 {
    client: Client,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Ec2 {
    fn drop(&mut self) {
        // May be dropped on an async task: shut down without blocking it.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Ec2 {
    /// A client configured from the standard AWS chain.
    pub fn from_environment() -> anyhow::Result<Self> {
        Self::in_region(None)
    }

    /// Run one SDK call to completion (from any thread, inside a runtime or not).
    fn call<T, E, F>(&self, what: &str, make: impl FnOnce(Client) -> F) -> anyhow::Result<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let future = make(self.client.clone());
        let runtime = self
            .runtime
            .as_ref()
            .context("the EC2 client is shutting down")?;
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv()
            .map_err(|_| anyhow!("the AWS call {what} did not finish"))?
            .map_err(|e| {
                anyhow::Error::new(AwsError {
                    what: what.to_string(),
                    code: e.code().map(str::to_string),
                    detail: DisplayErrorContext(&e).to_string(),
                })
            })
    }

    /// Create a tagged volume.
    pub fn create_volume(
        &self,
        zone: &str,
        size: i32,
        tags: &[(String, String)],
    ) -> anyhow::Result<String> {
        let zone = zone.to_string();
        let spec = tag_spec(ResourceType::Volume, tags);
        let out = self.call("CreateVolume", |c| async move {
            c.create_volume()
                .availability_zone(zone)
                .size(size)
                .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
                .tag_specifications(spec)
                .send()
                .await
        })?;
        out.volume_id()
            .map(str::to_string)
            .context("CreateVolume returned no id")
    }

    /// Wait until a volume can be attached.
    pub fn wait_volume_available(&self, volume_id: &str) -> anyhow::Result<()> {
        let id = volume_id.to_string();
        self.call("waiting for the volume", |c| async move {
            c.wait_until_volume_available()
                .volume_ids(id)
                .wait(Duration::from_secs(300))
                .await
        })?;
        Ok(())
    }

    /// Every crimpl volume (tag key `crimpl.version`), or those of one server.
    pub fn volumes(&self, server_name: Option<&str>) -> anyhow::Result<Vec<Volume>> {
        let filters = crimpl_filters(server_name);
        let out = self.call("DescribeVolumes", |c| async move {
            c.describe_volumes().set_filters(Some(filters)).send().await
        })?;
        Ok(out
            .volumes()
            .iter()
            .map(|v| {
                let tags = tag_pairs(v.tags());
                Volume {
                    id: v.volume_id().unwrap_or_default().into(),
                    size: v.size().unwrap_or_default(),
                    zone: v.availability_zone().unwrap_or_default().into(),
                    state: v
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    attached_to: v
                        .attachments()
                        .iter()
                        .filter_map(|a| a.instance_id().map(str::to_string))
                        .collect(),
                    server_name: tag_value(&tags, tags::SERVER_NAME),
                    tags,
                }
            })
            .collect())
    }

    /// Every crimpl instance not yet terminated (or those of one server), in one call.
    pub fn instances(&self, server_name: Option<&str>) -> anyhow::Result<Vec<Instance>> {
        let mut filters = crimpl_filters(server_name);
        filters.push(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["pending", "running", "stopping", "stopped", "shutting-down"]
                        .map(String::from)
                        .to_vec(),
                ))
                .build(),
        );
        self.describe_instances(Some(filters), None)
    }

    /// The instances of server `server_name`'s jobs `jobs` that are ending
    /// or ended (EC2 shows terminated instances for about an hour), in one call.
    pub fn ended_job_instances(
        &self,
        server_name: &str,
        jobs: &[String],
    ) -> anyhow::Result<Vec<Instance>> {
        let mut filters = crimpl_filters(Some(server_name));
        filters.push(
            Filter::builder()
                .name(format!("tag:{}", tags::JOB_NAME))
                .set_values(Some(jobs.to_vec()))
                .build(),
        );
        filters.push(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["shutting-down", "terminated", "stopping", "stopped"]
                        .map(String::from)
                        .to_vec(),
                ))
                .build(),
        );
        self.describe_instances(Some(filters), None)
    }

    /// One instance by id, whatever its state; `None` while EC2 does not
    /// know it yet (just after RunInstances) or no longer (long terminated).
    pub fn instance(&self, instance_id: &str) -> anyhow::Result<Option<Instance>> {
        match self.describe_instances(None, Some(vec![instance_id.to_string()])) {
            Ok(found) => Ok(found.into_iter().next()),
            Err(err) if error_code(&err) == Some("InvalidInstanceID.NotFound") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every instance matching `filters` and `ids`, following EC2's pages
    /// (moto pages at 100 reservations; an account with many has pages on EC2 too).
    fn describe_instances(
        &self,
        filters: Option<Vec<Filter>>,
        ids: Option<Vec<String>>,
    ) -> anyhow::Result<Vec<Instance>> {
        let pages = self.call("DescribeInstances", |c| async move {
            c.describe_instances()
                .set_filters(filters)
                .set_instance_ids(ids)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
        })?;
        Ok(pages
            .iter()
            .flat_map(|page| page.reservations())
            .flat_map(|r| r.instances())
            .map(|i| {
                let tags = tag_pairs(i.tags());
                Instance {
                    id: i.instance_id().unwrap_or_default().into(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string())
                        .unwrap_or_default(),
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    image_id: i.image_id().unwrap_or_default().into(),
                    private_ip: i.private_ip_address().map(str::to_string),
                    public_ip: i.public_ip_address().map(str::to_string),
                    level: tag_value(&tags, tags::LEVEL),
                    server_name: tag_value(&tags, tags::SERVER_NAME),
                    job_name: Some(tag_value(&tags, tags::JOB_NAME)).filter(|j| !j.is_empty()),
                    keep: tag_value(&tags, tags::KEEP_INSTANCE) == "true",
                    state_reason: i
                        .state_reason()
                        .and_then(|r| r.message().or(r.code()))
                        .map(str::to_string),
                }
            })
            .collect())
    }

    /// Launch one instance; returns its id.
    pub fn launch(&self, launch: Launch) -> anyhow::Result<String> {
        let spec = tag_spec(ResourceType::Instance, &launch.tags);
        // A public address is asked for on the network interface, which then
        // carries the subnet and group too.
        let (subnet, group, interface) = if launch.public_ip {
            let interface = InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(launch.subnet_id)
                .groups(launch.security_group_id)
                .associate_public_ip_address(true)
                .delete_on_termination(true)
                .build();
            (None, None, Some(vec![interface]))
        } else {
            (
                Some(launch.subnet_id),
                Some(vec![launch.security_group_id]),
                None,
            )
        };
        let out = self.call("RunInstances", |c| async move {
            c.run_instances()
                .image_id(launch.image_id)
                .instance_type(InstanceType::from(launch.instance_type.as_str()))
                .set_subnet_id(subnet)
                .set_security_group_ids(group)
                .set_network_interfaces(interface)
                .key_name(launch.key_name)
                .user_data(base64_encode(&launch.user_data))
                .instance_initiated_shutdown_behavior(if launch.terminate_on_shutdown {
                    ShutdownBehavior::Terminate
                } else {
                    ShutdownBehavior::Stop
                })
                .min_count(1)
                .max_count(1)
                .tag_specifications(spec)
                .metadata_options(imds_v2_only())
                .send()
                .await
        })?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(str::to_string)
            .context("RunInstances returned no instance")
    }

    /// Attach the volume to the instance as `/dev/sdf`.
    pub fn attach(&self, volume_id: &str, instance_id: &str) -> anyhow::Result<()> {
        let (volume, instance) = (volume_id.to_string(), instance_id.to_string());
        self.call("AttachVolume", |c| async move {
            c.attach_volume()
                .volume_id(volume)
                .instance_id(instance)
                .device("/dev/sdf")
                .send()
                .await
        })?;
        Ok(())
    }

    /// Start stopped instances.
    pub fn start(&self, ids: &[String]) -> anyhow::Result<()> {
        let ids = ids.to_vec();
        self.call("StartInstances", |c| async move {
            c.start_instances().set_instance_ids(Some(ids)).send().await
        })?;
        Ok(())
    }

    /// Stop instances.
    pub fn stop(&self, ids: &[String]) -> anyhow::Result<()> {
        let ids = ids.to_vec();
        self.call("StopInstances", |c| async move {
            c.stop_instances().set_instance_ids(Some(ids)).send().await
        })?;
        Ok(())
    }

    /// Ask EC2 to terminate instances, without waiting.
    pub fn terminate_now(&self, ids: &[String]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let terminate = ids.to_vec();
        self.call("TerminateInstances", |c| async move {
            c.terminate_instances()
                .set_instance_ids(Some(terminate))
                .send()
                .await
        })?;
        Ok(())
    }

    /// Delete a volume.
    pub fn delete_volume(&self, volume_id: &str) -> anyhow::Result<()> {
        let id = volume_id.to_string();
        self.call("DeleteVolume", |c| async move {
            c.delete_volume().volume_id(id).send().await
        })?;
        Ok(())
    }

    /// Set tags on a resource.
    pub fn tag(&self, resource: &str, tags: &[(String, String)]) -> anyhow::Result<()> {
        let resource = resource.to_string();
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.call("CreateTags", |c| async move {
            c.create_tags()
                .resources(resource)
                .set_tags(Some(tags))
                .send()
                .await
        })?;
        Ok(())
    }

    /// Remove tags (by key) from a resource.
    pub fn untag(&self, resource: &str, keys: &[String]) -> anyhow::Result<()> {
        let resource = resource.to_string();
        let tags: Vec<Tag> = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        self.call("DeleteTags", |c| async move {
            c.delete_tags()
                .resources(resource)
                .set_tags(Some(tags))
                .send()
                .await
        })?;
        Ok(())
    }

    /// Whether the instance's state is one that holds its volume (a stopped
    /// instance keeps its volumes attached).
    pub fn holds_volume(instance: &Instance) -> bool {
        matches!(
            InstanceStateName::from(instance.state.as_str()),
            InstanceStateName::Pending
                | InstanceStateName::Running
                | InstanceStateName::Stopping
                | InstanceStateName::Stopped
        )
    }
}

fn tag_pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn crimpl_filters(server_name: Option<&str>) -> Vec<Filter> {
    let mut filters = vec![
        Filter::builder()
            .name("tag-key")
            .values(tags::VERSION)
            .build(),
    ];
    if let Some(name) = server_name {
        filters.push(
            Filter::builder()
                .name(format!("tag:{}", tags::SERVER_NAME))
                .values(name)
                .build(),
        );
    }
    filters
}

fn tag_spec(resource: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn tag_value(tags: &[(String, String)], key: &str) -> String {
    tags.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The instance metadata service with session tokens only (IMDSv2) and one
/// network hop: what AWS's security guidance asks of every new instance, so
/// a process that can be made to fetch a URL cannot read the instance's
/// credentials, and a container on it cannot reach the service at all.
fn imds_v2_only() -> InstanceMetadataOptionsRequest {
    InstanceMetadataOptionsRequest::builder()
        .http_endpoint(InstanceMetadataEndpointState::Enabled)
        .http_tokens(HttpTokensState::Required)
        .http_put_response_hop_limit(1)
        .build()
}
