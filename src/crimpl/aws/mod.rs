//! AWS EC2 servers: a persistent EBS volume holding the server directory, a
//! small server instance for setup and file access, and job instances sized
//! by processor count. Only one instance holds the volume at a time. The
//! data plane is the SSH transport; this module manages the machines.

pub mod account;
mod bootstrap;
pub(crate) mod check;
pub mod cost;
mod ec2;
mod ends;
mod helpers;
pub mod image;
mod instance_types;
mod job_instances;
mod last_known;
pub mod lifetime;
mod network;
pub mod offerings;
mod pinning;
pub mod prices;
mod provision;
mod reach;
pub mod region;
mod server;
mod settings;
mod survey;
mod tags;

pub use bootstrap::{BootSystem, Bootstrap, VOLUME_MARKER};
pub use ec2::{DryRun, Ec2, Instance, Launch, Progress, Volume};
pub use helpers::{HELPER_LEVEL, HelperSet};
pub use instance_types::{JOB_TYPES, SERVER_TYPE, for_nprocs};
pub use pinning::ImageUpdate;
pub use server::AwsServer;
pub use settings::{AwsConfig, InstanceSettings, SshAddress};
pub use tags::MAX_JOB_STATUSES;
