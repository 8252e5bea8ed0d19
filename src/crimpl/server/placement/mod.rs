//! Where a server's commands run and the lifecycle around them: one
//! [`Placement`] per kind of place (a fixed transport; the EC2 instance that
//! holds the volume), each in its own file. A placement never knows how jobs
//! are scheduled: the server hands it the survey to run.

mod ec2;
mod fixed;

use std::sync::Arc;

use super::entries::Entry;
use super::options::SubmitOptions;
use crate::crimpl::aws::AwsServer;
use crate::crimpl::config::ServerConfig;
use crate::crimpl::job::JobRecord;
use crate::crimpl::kept_log::KeptLog;
use crate::crimpl::progress::Progress;
use crate::crimpl::transport::Transport;

pub use ec2::Ec2Placement;
pub use fixed::Fixed;

/// Where a new job was placed.
pub struct Launch {
    /// The transport that creates and starts it.
    pub transport: Arc<dyn Transport>,
    /// What the placement launched for this job alone (EC2 instance ids),
    /// to undo if the job cannot be created.
    pub launched: Vec<String>,
    /// Files the placement adds to the job directory (an array's helper
    /// machines, and the key that reaches them).
    pub entries: Vec<Entry>,
    /// Where the job was put, for its manifest (an EC2 instance's id, type
    /// and image); empty where the server says it all.
    pub placement: std::collections::BTreeMap<String, String>,
}

/// Reads the job directories through a transport (the second argument:
/// whether processes of other hosts are known to be gone).
pub type SurveyRead<'a> = &'a mut dyn FnMut(&dyn Transport, bool) -> anyhow::Result<Vec<JobRecord>>;

/// Where a server's commands run.
pub trait Placement: Send + Sync {
    /// Where commands run, for messages.
    fn describe(&self) -> String;

    /// The AWS machines behind an EC2 placement (its instances, images and
    /// volume: the actions only AWS has); `None` for every other placement.
    fn aws(&self) -> Option<&AwsServer> {
        None
    }

    /// Where `run` runs, for `--trial-run`.
    fn run_target(&self) -> String;

    /// Where a job submitted with `options` would run, for `--trial-run`.
    fn submit_target(&self, options: &SubmitOptions) -> anyhow::Result<String>;

    /// Reach the server now and make sure `directory` can hold jobs
    /// (created with `mode` if it is missing).
    fn probe(&self, directory: &str, mode: &str) -> anyhow::Result<()>;

    /// Record the host key if its fingerprint is `fingerprint` (which the
    /// user compared with the host's own).
    fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()>;

    /// The transport for operations on existing jobs; with `start`, a
    /// machine may be started to reach them.
    fn transport(&self, start: bool, progress: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>>;

    /// The transport for `run` (setup work on the server).
    fn run_transport(&self, progress: Progress<'_>) -> anyhow::Result<Arc<dyn Transport>>;

    /// Where the new job `job` goes, launched for it if need be.
    fn launch(
        &self,
        job: &str,
        options: &SubmitOptions,
        progress: Progress<'_>,
    ) -> anyhow::Result<Launch>;

    /// The job asked for as `base` was created as `job` (another name when
    /// `base` was taken).
    fn job_placed(&self, base: &str, job: &str) -> anyhow::Result<()>;

    /// The job could not be created: undo what `launch` did for it.
    fn placement_failed(&self, launch: &Launch, progress: Progress<'_>) -> anyhow::Result<()>;

    /// What the job wrapper runs after it recorded the job's end.
    fn after_job(&self, options: &SubmitOptions) -> Option<&'static str>;

    /// The jobs matching `pattern` (a glob of job directory names): read
    /// with `read` where the job directories can be reached now, or from
    /// what the placement recorded of them.
    fn survey(&self, pattern: &str, read: SurveyRead<'_>) -> anyhow::Result<Vec<JobRecord>>;

    /// The error for job `job` of server `server` missing from a survey,
    /// when that does not prove it does not exist (`None`: it does not).
    fn unproven_missing(&self, server: &str, job: &str) -> Option<anyhow::Error>;

    /// Why a job cannot be started again in its directory here, if it cannot.
    fn resubmit_refusal(&self) -> Option<&'static str>;

    /// The end of job `job`'s log, kept on this machine when the machine
    /// holding it was ended (the job has ended, so it is the log's end).
    fn kept_log(&self, _job: &str) -> Option<KeptLog> {
        None
    }
}

/// The placement of the server `name` with `config`; SSH connects on first use.
pub fn open(name: &str, config: &ServerConfig) -> anyhow::Result<Box<dyn Placement>> {
    Ok(match config {
        ServerConfig::Local { .. } => Box::new(Fixed::local()),
        ServerConfig::Ssh { host, jump, .. } | ServerConfig::Slurm { host, jump, .. } => {
            Box::new(Fixed::ssh(
                host,
                jump.as_deref(),
                config.transport().unwrap_or_default(),
                config.login_shell(),
            )?)
        }
        ServerConfig::Aws(aws) => Box::new(Ec2Placement::new(name, aws.clone())?),
    })
}
