//! A job's own instance, named by its job (`job start|stop|terminate`):
//! each action forgets the server's connection to an instance it ends, as
//! [`AwsServer::terminate_instance`] does, and a job without an instance is
//! [`EngineError::NotFound`].

use std::sync::Arc;

use anyhow::bail;

use super::server::NewInstance;
use super::{AwsServer, Ec2, HELPER_LEVEL, Instance, Progress, tags};
use crate::crimpl::EngineError;
use crate::crimpl::transport::{HostKeyPolicy, SshTransport};

/// The instance a job goes to, with a connection to it.
pub struct JobInstance {
    /// The connection.
    pub transport: Arc<SshTransport>,
    /// The instance, as EC2 described it.
    pub instance: Instance,
    /// Whether it was launched for this job (else it was the job's own,
    /// made earlier with `aws job new --start`).
    pub launched: bool,
}

impl AwsServer {
    /// The instance of `job`, which must exist.
    fn existing_job_instance(&self, job: &str) -> anyhow::Result<Instance> {
        self.job_instance(job)?.ok_or_else(|| {
            EngineError::NotFound(format!(
                "job {job} has no instance on server {} (not started, or terminated): \
                 %crimpl aws instances lists crimpl's instances",
                self.name
            ))
            .into()
        })
    }

    /// Start `job`'s stopped instance again and wait until it runs.
    pub fn resume_job_instance(
        &self,
        job: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<Instance> {
        let found = self.existing_job_instance(job)?;
        self.ec2.start_and_wait(&found.id, progress)
    }

    /// Stop `job`'s instance (the volume stays attached), once it has left `pending`.
    pub fn stop_job_instance(&self, job: &str, progress: Progress<'_>) -> anyhow::Result<Instance> {
        let found = self.existing_job_instance(job)?;
        self.forget_connection(&found.id);
        self.ec2.stop_when_running(&found.id, progress)?;
        Ok(found)
    }

    /// Terminate `job`'s instance and wait until it is gone.
    pub fn terminate_job_instance(
        &self,
        job: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<Instance> {
        let found = self.existing_job_instance(job)?;
        self.terminate_instance(&found.id)?;
        self.ec2
            .terminate(std::slice::from_ref(&found.id), progress)?;
        Ok(found)
    }
}

impl AwsServer {
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
    ) -> anyhow::Result<JobInstance> {
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
            return Ok(JobInstance {
                transport: self.connect(&own, HostKeyPolicy::Strict, progress)?,
                instance: own,
                launched: false,
            });
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
                Ok(JobInstance {
                    transport,
                    instance,
                    launched: true,
                })
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

    /// Terminate one of this server's instances without waiting.
    pub fn terminate_instance(&self, instance_id: &str) -> anyhow::Result<()> {
        self.forget_connection(instance_id);
        self.ec2.terminate_now(&[instance_id.to_string()])
    }
}
