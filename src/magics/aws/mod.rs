//! The magics' AWS commands, in one folder: a job's own instance
//! (`job.rs`), account housekeeping (`account.rs`), a server's instance and
//! images (`server_instances.rs`), and the note at shutdown about instances
//! still running (`shutdown.rs`). They reach a server's AWS machines through
//! [`crate::crimpl::Server::aws`].

mod account;
mod job;
mod server_instances;
mod shutdown;

pub use account::{AwsCommand, account};
pub use job::{JobCommand, job};
pub use server_instances::{InstanceAction, instance_command, update_image};
pub use shutdown::shutdown_notes;
