//! A server and the operations on its jobs: crimpl's object model
//! (`run_script`, `submit_script`, `job_status`, `existing_jobs`,
//! `check_output`, `kill_job`, `resubmit_script`).
//!
//! A [`Server`] composes a [`Scheduler`] (how a job starts, is killed, is
//! surveyed) and a [`Placement`] (where commands run, and the lifecycle
//! around them) and only delegates: it names no particular kind, but for
//! one explicit accessor, [`Server::aws`], to the actions only AWS has.
//!
//! Every operation is a single remote command where it can be: a submit
//! sends the script, the wrapper and the files as one tar stream into the
//! command that creates the job and starts it; the status of every job is
//! one survey of the server directory.
//!
//! `Server`'s operations are spread by kind over several `impl Server`
//! blocks: `run.rs` (a script run now), `submit.rs` (plan and submit a job),
//! `survey.rs` (job states, shared with watchers through `poller.rs`),
//! `files.rs` (log, listing, task outputs, fetch), `kill.rs` (kill and
//! resubmit), `manifests.rs` (a job's manifest on the server) and
//! `reattach.rs` (a named submit meeting its existing job) and `peek.rs`
//! (reading parts of a job's files where they are). This file holds the struct and what they all use.

mod entries;
mod files;
mod kill;
mod manifests;
mod option_kinds;
mod options;
mod peek;
mod placement;
mod poller;
mod reattach;
mod run;
mod scheduler;
mod submit;
mod survey;

use std::sync::Arc;

use anyhow::Context;

use super::aws::AwsServer;
use super::config::ServerConfig;
use super::progress::Progress;
use super::scripts;
use super::transport::Transport;
use placement::Placement;
use poller::Poller;
use scheduler::Scheduler;

pub use manifests::Stored;
pub use options::{ExistingJob, Plan, SubmitOptions};
pub use peek::{Look, Part, Peeked};
pub use reattach::{SubmitOutcome, Submitted};

/// A named server: one [`Scheduler`] and one [`Placement`].
pub struct Server {
    name: String,
    config: ServerConfig,
    scheduler: Box<dyn Scheduler>,
    placement: Box<dyn Placement>,
    poller: Poller,
}

impl Server {
    /// The AWS machines of an AWS server, `None` for every other kind: the
    /// one explicit entry point to the actions only AWS has (instances,
    /// images, the volume), which the magics' AWS commands use. Every other
    /// operation goes through the scheduler and the placement, whatever
    /// the kind.
    pub fn aws(&self) -> Option<&AwsServer> {
        self.placement.aws()
    }

    /// A server called `name` with `config`; SSH kinds connect on first use.
    pub fn open(name: &str, config: ServerConfig) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.into(),
            scheduler: scheduler::for_config(&config),
            placement: placement::open(name, &config)?,
            config,
            poller: Poller::default(),
        })
    }

    /// Record the SSH host's key in known_hosts if its fingerprint is
    /// `fingerprint` (which the user compared with the host's own).
    pub fn trust_host_key(&self, fingerprint: &str) -> anyhow::Result<()> {
        self.placement
            .trust_host_key(fingerprint)
            .with_context(|| format!("server {}", self.name))
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Where its commands run, for messages.
    pub fn describe(&self) -> String {
        self.placement.describe()
    }

    /// Reach the server now and create its directory (AWS: its volume exists).
    pub fn probe(&self) -> anyhow::Result<()> {
        self.placement
            .probe(self.directory(), self.config.directory_mode())
    }

    /// The transport for operations on existing jobs (`start`: the
    /// placement may start a machine to reach them).
    pub(super) fn transport(
        &self,
        start: bool,
        progress: Progress<'_>,
    ) -> anyhow::Result<Arc<dyn Transport>> {
        self.placement.transport(start, progress)
    }

    /// The server directory, as configured.
    pub(super) fn directory(&self) -> &str {
        self.config.directory()
    }

    /// Job `job`'s directory, as a shell word.
    pub(super) fn job_dir(&self, job: &str) -> anyhow::Result<String> {
        scripts::job_dir_word(self.directory(), job)
    }
}
