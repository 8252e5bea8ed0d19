//! What a submission asks for besides its script, which of it makes the
//! job's identity, and what `--trial-run` shows.

use std::collections::BTreeMap;
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
    /// What to do when a job of the same name exists already.
    pub existing: ExistingJob,
}

/// What a named submit does when its job exists already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExistingJob {
    /// The same script, inputs and options: reuse it when it completed,
    /// follow it when it runs, run again what did not complete. Anything
    /// else: an error saying what changed.
    #[default]
    Reattach,
    /// With the same digest, run it again whatever its state (`--rerun`).
    Rerun,
    /// Stop it if it runs, remove it, and submit this instead (`--replace`).
    Replace,
}

impl SubmitOptions {
    /// The options that change how or where the job runs, by name (part of
    /// the job's digest): unset ones are left out.
    pub fn identity(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut options = BTreeMap::new();
        let mut set = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                options.insert(name.to_string(), value);
            }
        };
        set("nprocs", self.nprocs.map(|n| n.to_string()));
        let slurm = &self.slurm;
        set("walltime", slurm.walltime.clone());
        set("ntasks", slurm.ntasks.map(|n| n.to_string()));
        set("nodes", slurm.nodes.map(|n| n.to_string()));
        set("mail-type", slurm.mail_type.clone());
        set("account", slurm.chosen.account.clone());
        set("qos", slurm.chosen.qos.clone());
        set("partition", slurm.chosen.partition.clone());
        set("mem", slurm.chosen.mem.clone());
        set("gpus", slurm.chosen.gpus.clone());
        set("constraint", slurm.chosen.constraint.clone());
        set(
            "sbatch",
            (!slurm.extra.is_empty()).then(|| slurm.extra.join(" ")),
        );
        set("instance-type", self.instance_type.clone());
        set("image-id", self.image_id.clone());
        set("keep-instance", self.keep_instance.then(|| "yes".into()));
        set("instances", self.instances.map(|n| n.to_string()));
        set(
            "after",
            (!self.after.is_empty()).then(|| {
                self.after
                    .iter()
                    .map(After::line)
                    .collect::<String>()
                    .trim_end()
                    .replace('\n', ",")
            }),
        );
        if let Some(array) = &self.array {
            let mut tasks = String::new();
            for task in &array.tasks {
                tasks.push_str(&array.task_dir(task.id));
                tasks.push('\n');
                tasks.push_str(&array.env_file(task)?);
            }
            set(
                "array",
                Some(format!(
                    "{} tasks, sha256 {}",
                    array.tasks.len(),
                    crate::crimpl::manifest::sha256_hex(tasks.as_bytes())
                )),
            );
            set("max-parallel", array.max_parallel.map(|n| n.to_string()));
        }
        Ok(options)
    }
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
