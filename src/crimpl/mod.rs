//! The crimpl engine: servers, jobs and transports, independent of Jupyter.
//!
//! A [`Server`] is a [`ServerConfig`] plus the [`transport`] that runs its
//! commands (this machine, or one SSH session). Jobs live in the server
//! directory in crimpl's [`layout`]; their status is read from the server's
//! files (and the scheduler), never from memory, so any kernel sees the truth.

pub mod aws;
pub mod check;
pub mod config;
pub mod error;
pub mod job;
pub mod layout;
pub mod login_shell;
pub mod lost;
pub mod option_kinds;
pub mod poller;
pub mod registry;
pub mod scripts;
pub mod server;
pub mod slurm;
pub mod status;
pub mod suggest;
pub mod transport;
pub mod unpack;

pub use config::ServerConfig;
pub use error::EngineError;
pub use job::{FileRole, JobFile, JobRecord, KillOutcome, Listing};
pub use registry::Registry;
pub use server::{Plan, Server, SubmitOptions};
pub use status::{EndReason, JobStatus};
pub use transport::Stopped;
pub use unpack::{FetchReport, UnpackPolicy};
