//! AWS EC2 servers: a persistent EBS volume holding the server directory, a
//! small server instance for setup and file access, and job instances sized
//! by processor count. Only one instance holds the volume at a time. The
//! data plane is the SSH transport; this module manages the machines.

pub mod account;
mod bootstrap;
pub mod cost;
mod ec2;
mod helpers;
pub mod image;
mod instance_types;
mod job_instances;
mod last_known;
pub mod lifetime;
mod network;
pub mod offerings;
pub mod prices;
pub mod region;
mod tags;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

pub use bootstrap::{BootSystem, Bootstrap, VOLUME_MARKER};
pub use ec2::{DryRun, Ec2, Instance, Launch, Progress, Volume};
pub use helpers::{HELPER_LEVEL, HelperSet};
pub use instance_types::{JOB_TYPES, SERVER_TYPE, for_nprocs};
pub use tags::MAX_JOB_STATUSES;

use super::scripts;
use super::transport::{HostKeyPolicy, SshTarget, SshTransport, Transport, is_refused_host_key};

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
    /// Find the server's volume by its name tag, or create one of
    /// `volume_size` GiB in the subnet's zone, in `region` (`None`: the
    /// standard chain's).
    pub fn create(
        region: Option<&str>,
        name: &str,
        volume_size: i32,
        mut instances: InstanceSettings,
        progress: Progress<'_>,
    ) -> anyhow::Result<Self> {
        for word in [&instances.username, &instances.directory] {
            if word.contains(|c: char| c.is_whitespace() || "'\"$`\\;&|<>".contains(c)) {
                bail!("{word:?} contains characters a server directory or user name cannot have");
            }
        }
        if let Some(rest) = instances.key_file.strip_prefix("~/") {
            instances.key_file = dirs::home_dir()
                .context("cannot find the home directory for ~ in --key-file")?
                .join(rest)
                .display()
                .to_string();
        }
        if !std::path::Path::new(&instances.key_file).exists() {
            bail!("key file {} does not exist", instances.key_file);
        }
        let ec2 = &Ec2::in_region(region)?;
        let zone = network::check(ec2, &instances, progress)?;
        let choice = offerings::choose(&zone, &ec2.zone_offerings(&zone)?)?;
        for note in &choice.notes {
            progress(note);
        }
        instances.server_type = choice.server_type;
        instances.job_types = choice.job_types;
        let existing = ec2.volumes(Some(name))?;
        let adopted = existing
            .first()
            .map(|v| image::pins_of(&v.tags))
            .filter(|pins| !pins.is_empty() && instances.image_id.is_none());
        instances.images = match adopted {
            Some(pins) => {
                progress(&format!(
                    "Its instances launch from the images pinned on the volume: {} (%crimpl server update-image {name} takes newer ones).",
                    pins.iter()
                        .map(|(arch, id)| format!("{id} ({arch})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                pins
            }
            None => {
                let images = image::resolve(ec2, instances.image_id.as_deref())?;
                progress(&format!(
                    "Pinned {} for every instance of server {name}, until %crimpl server update-image {name}.",
                    image::describe(&images)
                ));
                image::pins(&images)
            }
        };
        let pin_tags = image::tags_of(&instances.images);
        let (volume_id, volume_size, availability_zone) = match existing.first() {
            Some(volume) => {
                progress(&format!(
                    "Found the volume {} of server {name} ({} GiB in {}): using it.",
                    volume.id, volume.size, volume.zone
                ));
                if volume.zone != zone {
                    bail!(
                        "server {name}'s volume is in {}, but subnet {} is in {zone}: give a subnet in {}",
                        volume.zone,
                        instances.subnet_id,
                        volume.zone
                    );
                }
                if image::pins_of(&volume.tags) != instances.images {
                    let stale: Vec<String> = volume
                        .tags
                        .iter()
                        .filter(|(k, _)| k.starts_with(image::TAG_PREFIX))
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !stale.is_empty() {
                        ec2.untag(&volume.id, &stale)?;
                    }
                    ec2.tag(&volume.id, &pin_tags)?;
                }
                (volume.id.clone(), volume.size, volume.zone.clone())
            }
            None => {
                progress(&format!("Creating a {volume_size} GiB volume in {zone}…"));
                let mut volume_tags = tags::crimpl_tags("server-volume", name, &[]);
                volume_tags.extend(pin_tags);
                let id = ec2.create_volume(&zone, volume_size, &volume_tags)?;
                ec2.wait_volume_available(&id)?;
                (id, volume_size, zone)
            }
        };
        Ok(Self {
            volume_id,
            volume_size,
            availability_zone,
            region: Some(ec2.region()),
            instances,
        })
    }

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

/// An AWS server's machines: the volume, the server instance, job instances.
pub struct AwsServer {
    name: String,
    config: AwsConfig,
    ec2: Ec2,
    /// The SSH transport of the instance now holding the volume: (instance id, transport).
    connection: Mutex<Option<(String, Arc<SshTransport>)>>,
    /// Instance types' architectures, as EC2 described them.
    architectures: Mutex<HashMap<String, String>>,
}

/// What `server update-image` did.
pub struct ImageUpdate {
    /// The server's settings with the new images (to save).
    pub config: AwsConfig,
    /// The images now pinned, described.
    pub images: Vec<String>,
    /// `ARCH: old -> new`, one per changed architecture; empty if none changed.
    pub changes: Vec<String>,
}

/// An instance to launch: what it is for and how long it may live.
#[derive(Clone, Copy)]
struct NewInstance<'a> {
    /// Its `crimpl.level`: `server`, `job` or `helper`.
    level: &'a str,
    /// The job it is for, and whether it outlives the job.
    job: Option<(&'a str, bool)>,
    /// Its EC2 instance type.
    instance_type: &'a str,
    /// An image instead of the server's pinned one.
    image_id: Option<&'a str>,
    /// Whether a shutdown from inside terminates it.
    terminate_on_shutdown: bool,
    /// Its hard lifetime per boot.
    max_minutes: u32,
    /// Whether it boots to mount the volume (else only to keep its lifetime).
    mounts: bool,
}

/// How long an instance may take to boot and mount the volume.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

impl AwsServer {
    /// The machines of server `name`.
    pub fn new(name: &str, config: AwsConfig) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.into(),
            ec2: Ec2::in_region(config.region.as_deref())?,
            config,
            connection: Mutex::new(None),
            architectures: Mutex::new(HashMap::new()),
        })
    }

    /// The server's settings.
    pub fn config(&self) -> &AwsConfig {
        &self.config
    }

    /// This server's instances (one API call).
    pub fn instances(&self) -> anyhow::Result<Vec<Instance>> {
        self.ec2.instances(Some(&self.name))
    }

    /// The server instance, if one exists.
    pub fn server_instance(&self) -> anyhow::Result<Option<Instance>> {
        Ok(self.instances()?.into_iter().find(|i| i.level == "server"))
    }

    /// The instance of `job`, if one exists.
    pub fn job_instance(&self, job: &str) -> anyhow::Result<Option<Instance>> {
        Ok(self
            .instances()?
            .into_iter()
            .find(|i| i.level == "job" && i.job_name.as_deref() == Some(job)))
    }

    /// What became of the instances of `jobs` that ended without recording
    /// their job's end: per job, `instance i-… terminated: REASON`.
    pub fn job_instance_ends(&self, jobs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .ec2
            .ended_job_instances(&self.name, jobs)?
            .into_iter()
            .filter(|i| i.level == "job")
            .filter_map(|i| {
                let job = i.job_name?;
                let why = i.state_reason.map_or(String::new(), |r| format!(": {r}"));
                Some((job, format!("its instance {} was {}{why}", i.id, i.state)))
            })
            .collect())
    }

    /// The server instance's state in crimpl's words (`not-started` if none).
    pub fn state(&self) -> anyhow::Result<String> {
        Ok(self
            .server_instance()?
            .map_or_else(|| "not-started".to_string(), |i| i.state))
    }

    /// Start the server instance (creating it if needed) with the volume
    /// mounted, waiting through the states on the way (an old instance
    /// shutting down, the instance stopping or pending).
    pub fn start(&self, progress: Progress<'_>) -> anyhow::Result<Instance> {
        let instances = self.instances()?;
        if let Some(job) = instances
            .iter()
            .find(|i| i.level == "job" && Ec2::holds_volume(i))
        {
            let name = job.job_name.clone().unwrap_or_default();
            bail!(
                "job {name}'s instance {} is {} and holds the volume: wait for the job, or %crimpl job terminate {name}",
                job.id,
                job.state
            );
        }
        let mut server = None;
        for instance in instances.into_iter().filter(|i| i.level == "server") {
            if instance.state == "shutting-down" {
                progress(&format!(
                    "Waiting for the old server instance {} to finish shutting down…",
                    instance.id
                ));
                self.ec2.wait_for(&instance.id, &["terminated"], progress)?;
            } else {
                server = Some(instance);
            }
        }
        let instance = match server {
            Some(server) if server.state == "running" => server,
            Some(server) => {
                progress(&format!(
                    "The server instance {} is {}: starting it…",
                    server.id, server.state
                ));
                self.ec2.start_and_wait(&server.id, progress)?
            }
            None => {
                let (launched, formatted) = self.launch(
                    &NewInstance {
                        level: "server",
                        job: None,
                        instance_type: &self.config.instances.server_type,
                        image_id: None,
                        terminate_on_shutdown: false,
                        max_minutes: self.server_minutes(),
                        mounts: true,
                    },
                    progress,
                )?;
                self.connect(&launched, HostKeyPolicy::AcceptNew, progress)?;
                self.record_formatted(formatted)?;
                return Ok(launched);
            }
        };
        self.connect(&instance, HostKeyPolicy::Strict, progress)?;
        Ok(instance)
    }

    /// The server instance's hard lifetime per boot, in minutes.
    fn server_minutes(&self) -> u32 {
        self.config.instances.max_hours.saturating_mul(60)
    }

    /// Stop the server instance (the volume stays), once it has left `pending`.
    pub fn stop(&self, progress: Progress<'_>) -> anyhow::Result<Option<Instance>> {
        let Some(server) = self.server_instance()? else {
            return Ok(None);
        };
        self.forget_connection(&server.id);
        if matches!(server.state.as_str(), "pending" | "running") {
            self.ec2.stop_when_running(&server.id, progress)?;
        }
        Ok(Some(server))
    }

    /// Terminate the server instance (the volume stays) and wait until it is gone.
    pub fn terminate(&self, progress: Progress<'_>) -> anyhow::Result<Option<String>> {
        let Some(server) = self.server_instance()? else {
            return Ok(None);
        };
        self.forget_connection(&server.id);
        self.ec2
            .terminate(std::slice::from_ref(&server.id), progress)?;
        Ok(Some(server.id))
    }

    /// Terminate every instance of this server, then delete its volume once
    /// they have freed it.
    pub fn delete_volume(&self, progress: Progress<'_>) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = self.instances()?.into_iter().map(|i| i.id).collect();
        if !ids.is_empty() {
            progress(&format!("Terminating {}…", ids.join(" ")));
        }
        self.ec2.terminate(&ids, progress)?;
        self.ec2
            .delete_volume_when_free(&self.config.volume_id, progress)?;
        if let Ok(known) = self.last_known() {
            known.forget();
        }
        if let Ok(logs) = self.kept_logs() {
            logs.forget();
        }
        Ok(ids)
    }

    /// The running instance of `job` (one `job create --start` launched), or
    /// a new `instance_type` instance for it after freeing the volume from
    /// the server instance. `image_id`: an image instead of the pinned one;
    /// `keep`: the instance outlives the job; `max_minutes`: its hard
    /// lifetime. Returns the connection, and the id of the instance if it
    /// was launched now.
    #[allow(clippy::too_many_arguments)]
    pub fn start_job_instance(
        &self,
        job: &str,
        instance_type: &str,
        image_id: Option<&str>,
        keep: bool,
        max_minutes: u32,
        progress: Progress<'_>,
    ) -> anyhow::Result<(Arc<SshTransport>, Option<String>)> {
        let instances = self.instances()?;
        if let Some(own) = instances.iter().find(|i| {
            i.level == "job" && i.job_name.as_deref() == Some(job) && Ec2::holds_volume(i)
        }) {
            self.ec2.tag(
                &own.id,
                &[(tags::KEEP_INSTANCE.to_string(), keep.to_string())],
            )?;
            let own = if own.state == "running" {
                own.clone()
            } else {
                progress(&format!("Starting job {job}'s instance {}…", own.id));
                self.ec2.start_and_wait(&own.id, progress)?
            };
            progress(&format!(
                "Job {job}'s {} instance {} holds the volume: the job goes there.",
                own.instance_type, own.id
            ));
            return Ok((self.connect(&own, HostKeyPolicy::Strict, progress)?, None));
        }
        for instance in instances.into_iter().filter(|i| i.level != HELPER_LEVEL) {
            if instance.state == "shutting-down" {
                progress(&format!(
                    "Waiting for instance {} to finish shutting down and free the volume…",
                    instance.id
                ));
                self.ec2.wait_for(&instance.id, &["terminated"], progress)?;
            } else if instance.level == "server" && Ec2::holds_volume(&instance) {
                progress(&format!(
                    "Terminating the server instance {} first: the volume is attached to one instance at a time.",
                    instance.id
                ));
                self.forget_connection(&instance.id);
                self.ec2
                    .terminate(std::slice::from_ref(&instance.id), progress)?;
            } else if instance.level == "job" && Ec2::holds_volume(&instance) {
                bail!(
                    "job {} still runs on {} and holds the volume: wait for it or terminate it first",
                    instance.job_name.unwrap_or_default(),
                    instance.id
                );
            }
        }
        let (instance, formatted) = self.launch(
            &NewInstance {
                level: "job",
                job: Some((job, keep)),
                instance_type,
                image_id,
                terminate_on_shutdown: true,
                max_minutes,
                mounts: true,
            },
            progress,
        )?;
        match self.connect(&instance, HostKeyPolicy::AcceptNew, progress) {
            Ok(transport) => {
                self.record_formatted(formatted)?;
                Ok((transport, Some(instance.id)))
            }
            Err(err) => {
                progress(&format!(
                    "Terminating the instance {}: it could not be reached.",
                    instance.id
                ));
                self.terminate_instance(&instance.id)?;
                Err(err)
            }
        }
    }

    /// Once an instance has mounted the volume, tag it `crimpl.formatted`
    /// (if it is not yet): later boots never format it again.
    fn record_formatted(&self, formatted: bool) -> anyhow::Result<()> {
        if !formatted {
            self.ec2.tag(
                &self.config.volume_id,
                &[(tags::FORMATTED.to_string(), "true".to_string())],
            )?;
        }
        Ok(())
    }

    /// The server's volume as EC2 describes it.
    fn volume(&self) -> anyhow::Result<Volume> {
        self.ec2
            .volumes(Some(&self.name))?
            .into_iter()
            .find(|v| v.id == self.config.volume_id)
            .with_context(|| {
                format!(
                    "the volume {} of server {} is gone",
                    self.config.volume_id, self.name
                )
            })
    }

    /// Re-tag a job instance (and its sweep's helpers) launched for `old`
    /// whose job was finally named `new`.
    pub fn rename_job_instance(&self, old: &str, new: &str) -> anyhow::Result<()> {
        for instance in self.instances()? {
            if matches!(instance.level.as_str(), "job" | HELPER_LEVEL)
                && instance.job_name.as_deref() == Some(old)
            {
                self.ec2.tag(
                    &instance.id,
                    &[(tags::JOB_NAME.to_string(), new.to_string())],
                )?;
            }
        }
        Ok(())
    }

    /// Launch the instance `new`, wait until it runs and attach the volume
    /// (waiting while an earlier instance frees it); an instance that cannot
    /// get the volume is terminated. Returns it, and whether the volume was
    /// known to be formatted.
    fn launch(
        &self,
        new: &NewInstance<'_>,
        progress: Progress<'_>,
    ) -> anyhow::Result<(Instance, bool)> {
        let (id, formatted) = self.run_instance(new, progress)?;
        let placed = self.ec2.wait_running(&id, progress).and_then(|instance| {
            progress(&format!("Instance {id} runs; attaching the volume…"));
            self.ec2
                .attach_when_free(&self.config.volume_id, &id, progress)?;
            Ok(instance)
        });
        match placed {
            Ok(instance) => Ok((instance, formatted)),
            Err(err) => {
                progress(&format!(
                    "Terminating the instance {id}: it did not get the volume."
                ));
                if let Err(also) = self.ec2.terminate_now(std::slice::from_ref(&id)) {
                    return Err(err.context(format!(
                        "terminating {id} failed too ({also:#}): end it with %crimpl aws terminate {id}"
                    )));
                }
                Err(err)
            }
        }
    }

    /// Ask EC2 for the instance `new`, without waiting for it. Returns its
    /// id, and whether the volume was known to be formatted.
    fn run_instance(
        &self,
        new: &NewInstance<'_>,
        progress: Progress<'_>,
    ) -> anyhow::Result<(String, bool)> {
        let NewInstance {
            level,
            job,
            instance_type,
            image_id,
            terminate_on_shutdown,
            max_minutes,
            mounts,
        } = *new;
        let volume = self.volume()?;
        let image_id = match image_id {
            Some(image) => image.to_string(),
            None => self.pinned_image(&volume, instance_type, progress)?,
        };
        let formatted = volume
            .tags
            .iter()
            .any(|(k, v)| k == tags::FORMATTED && v == "true");
        let bootstrap = Bootstrap {
            devices: if mounts {
                Bootstrap::ebs_devices(&self.config.volume_id)
            } else {
                Vec::new()
            },
            mount_point: self.config.mount_point(),
            user: self.config.instances.username.clone(),
            idle_shutdown_minutes: self.config.instances.idle_stop_minutes,
            max_lifetime_minutes: max_minutes,
            may_format: !formatted,
            system: BootSystem::default(),
        };
        let mut extra = vec![(tags::VOLUME_ID, self.config.volume_id.as_str())];
        if let Some((job, keep)) = job {
            extra.push((tags::JOB_NAME, job));
            if keep {
                extra.push((tags::KEEP_INSTANCE, "true"));
            }
        }
        progress(&format!(
            "Launching a {instance_type} {level} instance from {image_id}…"
        ));
        let id = self.ec2.launch(Launch {
            instance_type: instance_type.into(),
            image_id,
            subnet_id: self.config.instances.subnet_id.clone(),
            security_group_id: self.config.instances.security_group_id.clone(),
            key_name: self.config.instances.key_name.clone(),
            user_data: bootstrap.user_data()?,
            terminate_on_shutdown,
            public_ip: self.config.instances.ssh_address == SshAddress::Public,
            tags: tags::crimpl_tags(level, &self.name, &extra),
        })?;
        Ok((id, formatted))
    }

    /// The image pinned on `volume` for `instance_type`'s architecture. A
    /// server without one for that architecture (made by an older version,
    /// or in a region that had no such image then) pins the newest Ubuntu
    /// 24.04 LTS image now, and says so; a server launching from an image
    /// chosen with `--image-id` refuses a type of another architecture.
    fn pinned_image(
        &self,
        volume: &Volume,
        instance_type: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<String> {
        let pins = image::pins_of(&volume.tags);
        let chosen = &self.config.instances.image_id;
        if let (true, Some(chosen)) = (pins.is_empty(), chosen) {
            // Saved before images were pinned on the volume.
            return Ok(chosen.clone());
        }
        let arch = self.architecture(instance_type)?;
        if let Some(id) = pins.get(&arch) {
            return Ok(id.clone());
        }
        if let Some(chosen) = chosen {
            bail!(
                "server {} launches from {chosen} (chosen with --image-id), which is not {arch}, and {instance_type} is {arch}: submit with --image-id of an {arch} image, or an --instance-type of the image's architecture",
                self.name
            );
        }
        let found = self.ec2.newest_noble(&arch)?.with_context(|| {
            format!(
                "no Ubuntu 24.04 LTS image for {arch} ({instance_type}) in this region: submit with --image-id, or an --instance-type of another architecture"
            )
        })?;
        self.ec2.tag(
            &volume.id,
            &image::tags_of(&image::pins(std::slice::from_ref(&found))),
        )?;
        progress(&format!(
            "Server {} had no {arch} image pinned: pinned {} for its {arch} instances from now on.",
            self.name,
            image::describe(std::slice::from_ref(&found))
        ));
        Ok(found.id)
    }

    /// The architecture of `instance_type` (asked of EC2 once per type).
    fn architecture(&self, instance_type: &str) -> anyhow::Result<String> {
        if let Some(arch) = self
            .architectures
            .lock()
            .ok()
            .and_then(|known| known.get(instance_type).cloned())
        {
            return Ok(arch);
        }
        let arch = self.ec2.architecture(instance_type)?;
        if let Ok(mut known) = self.architectures.lock() {
            known.insert(instance_type.to_string(), arch.clone());
        }
        Ok(arch)
    }

    /// Pin the newest Ubuntu 24.04 LTS images again (or the image `chosen`),
    /// on the volume. Refused while an instance of the server exists, since
    /// it would go on with the old image.
    pub fn update_image(&self, chosen: Option<&str>) -> anyhow::Result<ImageUpdate> {
        let volume = self.volume()?;
        let old = image::pins_of(&volume.tags);
        let images = image::resolve(&self.ec2, chosen)?;
        let new = image::pins(&images);
        let described: Vec<String> = images
            .iter()
            .map(|i| {
                format!(
                    "{} ({}, {}, made {})",
                    i.id, i.name, i.architecture, i.created
                )
            })
            .collect();
        let changes = image::changes(&old, &new);
        let mut config = self.config.clone();
        config.instances.image_id = chosen.map(str::to_string);
        config.instances.images = new.clone();
        if changes.is_empty() {
            return Ok(ImageUpdate {
                config,
                images: described,
                changes,
            });
        }
        let instances = self.instances()?;
        if !instances.is_empty() {
            let listed: Vec<String> = instances
                .iter()
                .map(|i| match &i.job_name {
                    Some(job) => format!("{} (job {job}, {})", i.id, i.state),
                    None => format!("{} ({} instance, {})", i.id, i.level, i.state),
                })
                .collect();
            bail!(
                "server {name} would change images ({}), but {} launched from the old image and would keep it. Nothing changed: terminate them first (%crimpl server terminate {name}; let jobs end or %crimpl job terminate JOB), then update-image again",
                changes.join(", "),
                listed.join(", "),
                name = self.name
            );
        }
        let stale: Vec<String> = old
            .keys()
            .filter(|arch| !new.contains_key(*arch))
            .map(|arch| format!("{}{arch}", image::TAG_PREFIX))
            .collect();
        if !stale.is_empty() {
            self.ec2.untag(&volume.id, &stale)?;
        }
        self.ec2.tag(&volume.id, &image::tags_of(&new))?;
        Ok(ImageUpdate {
            config,
            images: described,
            changes,
        })
    }

    /// Record the host key of the running instance holding the volume if its
    /// fingerprint is `fingerprint` (which the user compared with the
    /// instance's own, e.g. in its system log), and connect to it.
    pub fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()> {
        let holder = self
            .instances()?
            .into_iter()
            .find(|i| i.state == "running")
            .context("no instance of this server runs: start one first")?;
        let quiet = |_: &str| {};
        self.connect(
            &holder,
            HostKeyPolicy::TrustFingerprint(fingerprint.into()),
            &quiet,
        )?;
        Ok(())
    }

    /// SSH to `instance` once it has mounted the volume (bounded wait, with
    /// progress). Its host key is recorded under its instance id, which
    /// outlives its address: learnt on first contact under `AcceptNew` (an
    /// instance this server just launched), checked ever after.
    fn connect(
        &self,
        instance: &Instance,
        policy: HostKeyPolicy,
        progress: Progress<'_>,
    ) -> anyhow::Result<Arc<SshTransport>> {
        let marker = format!(
            "test -f {}/{VOLUME_MARKER}",
            scripts::quote(&self.config.mount_point())?
        );
        let transport = self.reach(
            instance,
            policy,
            (&marker, "the volume is not mounted"),
            progress,
        )?;
        if let Ok(mut connection) = self.connection.lock() {
            *connection = Some((instance.id.clone(), transport.clone()));
        }
        Ok(transport)
    }

    /// SSH to `instance` once the command of `ready` succeeds there (bounded
    /// wait, with progress; the error says `ready`'s reason if it never
    /// does), its host key recorded as [`Self::connect`] says.
    fn reach(
        &self,
        instance: &Instance,
        policy: HostKeyPolicy,
        (ready, not_ready): (&str, &str),
        progress: Progress<'_>,
    ) -> anyhow::Result<Arc<SshTransport>> {
        let address = match self.config.instances.ssh_address {
            SshAddress::Public => instance.public_ip.clone(),
            SshAddress::Private => instance.private_ip.clone(),
        }
        .with_context(|| {
            format!(
                "instance {} has no {:?} address: use --ssh-address {}",
                instance.id,
                self.config.instances.ssh_address,
                if self.config.instances.ssh_address == SshAddress::Public {
                    "private"
                } else {
                    "public"
                }
            )
        })?;
        let target = SshTarget::direct(
            &address,
            self.config.instances.ssh_port,
            &self.config.instances.username,
            &self.config.instances.key_file,
            &instance.id,
        )?;
        let transport = Arc::new(SshTransport::with_target(target, policy));
        let started = Instant::now();
        let mut said = false;
        loop {
            match transport.capture(ready, None) {
                Ok(captured) if captured.finished.success() => break,
                Err(err) if is_refused_host_key(&err) => return Err(err),
                outcome => {
                    if started.elapsed() > READY_TIMEOUT {
                        let why = match outcome {
                            Err(err) => format!("{err:#}"),
                            Ok(_) => not_ready.to_string(),
                        };
                        bail!(
                            "instance {} was not ready after {} s ({why}); see its system log in the EC2 console",
                            instance.id,
                            READY_TIMEOUT.as_secs()
                        );
                    }
                    if !said {
                        progress(&format!("Waiting for {address} to boot ({not_ready} yet)…"));
                        said = true;
                    }
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        }
        transport.set_policy(HostKeyPolicy::Strict);
        progress(&format!("Instance {} is ready at {address}.", instance.id));
        Ok(transport)
    }

    /// The running instance holding the volume, if any, with a connection to it
    /// (one DescribeInstances; the connection is reused while the holder stays).
    pub fn holder(
        &self,
        progress: Progress<'_>,
    ) -> anyhow::Result<Option<(Instance, Arc<dyn Transport>)>> {
        let holder = self
            .instances()?
            .into_iter()
            .find(|i| i.state == "running" && i.level != HELPER_LEVEL);
        let Some(holder) = holder else {
            return Ok(None);
        };
        if let Some((id, transport)) = self.connection.lock().ok().and_then(|c| c.clone())
            && id == holder.id
        {
            return Ok(Some((holder, transport as Arc<dyn Transport>)));
        }
        let transport = self.connect(&holder, HostKeyPolicy::Strict, progress)?;
        Ok(Some((holder, transport as Arc<dyn Transport>)))
    }

    /// Terminate one of this server's instances without waiting.
    pub fn terminate_instance(&self, instance_id: &str) -> anyhow::Result<()> {
        self.forget_connection(instance_id);
        self.ec2.terminate_now(&[instance_id.to_string()])
    }

    fn forget_connection(&self, instance_id: &str) {
        if let Ok(mut connection) = self.connection.lock()
            && connection.as_ref().is_some_and(|(id, _)| id == instance_id)
        {
            *connection = None;
        }
    }

    /// `holder`'s job was seen to end with `status`: unless the instance is
    /// to be kept, record the end on the volume's tags (for status queries
    /// while no instance runs) and terminate the instance through the API
    /// (its own shutdown may not have happened or worked). Returns whether
    /// it was terminated.
    pub fn end_job(&self, holder: &Instance, status: &str) -> anyhow::Result<bool> {
        let Some(job) = holder.ends_with() else {
            return Ok(false);
        };
        self.record_end(job, status)?;
        self.terminate_instance(&holder.id)?;
        Ok(true)
    }

    /// Record on the volume's tags that `job` ended with `status`, keeping
    /// only the latest [`tags::MAX_JOB_STATUSES`] ends (the oldest are removed).
    fn record_end(&self, job: &str, status: &str) -> anyhow::Result<()> {
        let key = format!("{}{job}", tags::JOB_STATUS_PREFIX);
        let mut recorded: Vec<(String, String)> = self
            .volume()?
            .tags
            .into_iter()
            .filter(|(k, _)| k.starts_with(tags::JOB_STATUS_PREFIX) && *k != key)
            .collect();
        if recorded.len() >= tags::MAX_JOB_STATUSES {
            // Oldest first: by the time after the status (ends recorded
            // without one, by earlier versions, are the oldest).
            recorded.sort_by(|a, b| ended_at(&a.1).cmp(ended_at(&b.1)));
            let excess = recorded.len() + 1 - tags::MAX_JOB_STATUSES;
            let old: Vec<String> = recorded.into_iter().take(excess).map(|(k, _)| k).collect();
            self.ec2.untag(&self.config.volume_id, &old)?;
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        self.ec2
            .tag(&self.config.volume_id, &[(key, format!("{status} {now}"))])
    }

    /// How jobs ended, as recorded on the volume's tags (for when no instance
    /// holds it): the latest [`tags::MAX_JOB_STATUSES`] ends a kernel saw.
    pub fn recorded_statuses(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .volume()?
            .tags
            .into_iter()
            .filter_map(|(k, v)| {
                let status = v.split_whitespace().next().unwrap_or_default().to_string();
                k.strip_prefix(tags::JOB_STATUS_PREFIX)
                    .map(|job| (job.to_string(), status))
            })
            .collect())
    }
}

/// The time in a recorded end (`STATUS TIME`), empty if it has none.
fn ended_at(value: &str) -> &str {
    value.split_once(' ').map_or("", |(_, time)| time)
}
