//! What a submission asks for besides its script, and what `--trial-run` shows.

use std::path::PathBuf;

use crate::crimpl::after::After;
use crate::crimpl::array::ArraySpec;
use crate::crimpl::slurm::SlurmOptions;

/// What to submit besides the script.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// The job's name (default: from the date and time).
    pub job: Option<String>,
    /// Local files (or directories) sent into the job directory.
    pub files: Vec<PathBuf>,
    /// Processors to ask for (Slurm tasks).
    pub nprocs: Option<u32>,
    /// Slurm's own options.
    pub slurm: SlurmOptions,
    /// AWS: the instance type (default: by `nprocs`).
    pub instance_type: Option<String>,
    /// AWS: the image (default: the server's pinned image).
    pub image_id: Option<String>,
    /// AWS: keep the job's instance when the script ends.
    pub keep_instance: bool,
    /// An array job: its tasks (a sweep), each in a directory of its own.
    pub array: Option<ArraySpec>,
    /// AWS: the array's tasks spread over this many job instances.
    pub instances: Option<u32>,
    /// Jobs of the same server to wait for (`--after`).
    pub after: Vec<After>,
}

/// What a `--trial-run` shows: exactly what would be sent and run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where it would run.
    pub target: String,
    /// The remote command(s), in order.
    pub commands: Vec<String>,
    /// Files that would be sent: name in the job directory and size.
    pub uploads: Vec<(String, u64)>,
    /// Scripts that would be written, by name.
    pub scripts: Vec<(String, String)>,
}
