//! The server's machines and the server instance's life: the volume, the
//! instances of this server, starting, stopping and terminating the server
//! instance, deleting the volume, and launching any instance.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};

use super::{
    AwsConfig, BootSystem, Bootstrap, Ec2, Instance, Launch, Progress, SshAddress, Volume, tags,
};
use crate::crimpl::transport::{HostKeyPolicy, SshTransport};

/// An AWS server's machines: the volume, the server instance, job instances.
pub struct AwsServer {
    pub(super) name: String,
    pub(super) config: AwsConfig,
    pub(super) ec2: Ec2,
    /// The SSH transport of the instance now holding the volume: (instance id, transport).
    pub(super) connection: Mutex<Option<(String, Arc<SshTransport>)>>,
    /// Instance types' architectures, as EC2 described them.
    pub(super) architectures: Mutex<HashMap<String, String>>,
    /// The directory of this machine's records of the server (job ends,
    /// kept logs), beside the server registry as the caller chose, or why
    /// there is none.
    pub(super) records: Result<PathBuf, String>,
}

/// An instance to launch: what it is for and how long it may live.
#[derive(Clone, Copy)]
pub(super) struct NewInstance<'a> {
    /// Its `crimpl.level`: `server`, `job` or `helper`.
    pub(super) level: &'a str,
    /// The job it is for, and whether it outlives the job.
    pub(super) job: Option<(&'a str, bool)>,
    /// Its EC2 instance type.
    pub(super) instance_type: &'a str,
    /// An image instead of the server's pinned one.
    pub(super) image_id: Option<&'a str>,
    /// Whether a shutdown from inside terminates it.
    pub(super) terminate_on_shutdown: bool,
    /// Its hard lifetime per boot.
    pub(super) max_minutes: u32,
    /// Whether it boots to mount the volume (else only to keep its lifetime).
    pub(super) mounts: bool,
}

/// How long an instance may take to boot and mount the volume.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(600);

impl AwsServer {
    /// The machines of server `name`; `records`: where this machine keeps
    /// its records of them (or why it cannot).
    pub fn new(
        name: &str,
        config: AwsConfig,
        records: Result<PathBuf, String>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.into(),
            ec2: Ec2::in_region(config.region.as_deref())?,
            config,
            records,
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
                if let Err(err) = self.connect(&launched, HostKeyPolicy::AcceptNew, progress) {
                    // Never leave a new instance running that no one can use.
                    progress(&format!(
                        "Terminating the instance {}: it never became ready.",
                        launched.id
                    ));
                    if let Err(also) = self.ec2.terminate_now(std::slice::from_ref(&launched.id)) {
                        return Err(err.context(format!(
                            "terminating {id} failed too ({also:#}): end it with %crimpl aws terminate {id}",
                            id = launched.id
                        )));
                    }
                    return Err(err);
                }
                self.record_formatted(formatted)?;
                return Ok(launched);
            }
        };
        self.connect(&instance, HostKeyPolicy::Strict, progress)?;
        Ok(instance)
    }

    /// The server instance's hard lifetime per boot, in minutes.
    pub(super) fn server_minutes(&self) -> u32 {
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

    /// Once an instance has mounted the volume, tag it `crimpl.formatted`
    /// (if it is not yet): later boots never format it again.
    pub(super) fn record_formatted(&self, formatted: bool) -> anyhow::Result<()> {
        if !formatted {
            self.ec2.tag(
                &self.config.volume_id,
                &[(tags::FORMATTED.to_string(), "true".to_string())],
            )?;
        }
        Ok(())
    }

    /// The server's volume as EC2 describes it.
    pub(super) fn volume(&self) -> anyhow::Result<Volume> {
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

    /// Launch the instance `new`, wait until it runs and attach the volume
    /// (waiting while an earlier instance frees it); an instance that cannot
    /// get the volume is terminated. Returns it, and whether the volume was
    /// known to be formatted.
    pub(super) fn launch(
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
    pub(super) fn run_instance(
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
}
