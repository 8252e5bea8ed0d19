//! The crimpl engine: servers, jobs and transports, independent of Jupyter.
//!
//! A [`Server`] composes a scheduler (how a job starts, is killed, is read:
//! a detached process, or Slurm) and a placement (where its commands run:
//! this machine, one SSH host, or the EC2 instance holding its volume, over a
//! [`transport`]). Jobs live in the server directory in crimpl's [`layout`];
//! their status is read from the server's files (and the scheduler), never
//! from memory, so any kernel sees the truth. Modules that are only the
//! engine's own are private, so the compiler reports what nobody uses.

pub mod after;
pub mod array;
pub mod array_files;
pub mod aws;
pub mod check;
mod checklist;
pub mod config;
mod error;
mod job;
mod kept_log;
pub mod layout;
mod login_shell;
mod lost;
pub mod manifest;
mod progress;
pub mod registry;
pub mod scripts;
mod server;
mod server_steps;
pub mod slurm;
mod status;
pub mod suggest;
pub mod transport;
mod unpack;

pub use config::ServerConfig;
pub use error::EngineError;
pub use job::{FileRole, JobFile, JobRecord, KillOutcome, Listing};
pub use registry::Registry;
pub use server::{
    ExistingJob, Look, Part, Peeked, Plan, Server, Stored, SubmitOptions, SubmitOutcome, Submitted,
};
pub use status::JobStatus;
pub use transport::Stopped;
pub use unpack::{FetchReport, UnpackPolicy};
