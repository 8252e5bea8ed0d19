//! A job's own instance, named by its job (`job start|stop|terminate`):
//! each action forgets the server's connection to an instance it ends, as
//! [`AwsServer::terminate_instance`] does, and a job without an instance is
//! [`EngineError::NotFound`].

use super::{AwsServer, Instance, Progress};
use crate::crimpl::EngineError;

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
