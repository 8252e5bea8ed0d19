//! `%%crimpl run --srun`: the cell's body run on a compute node through
//! `srun` (an allocation of its own), its output streamed as it comes.

use clap::Args;

use super::batch::SlurmDefaults;
use crate::crimpl::scripts::quote;

/// What `run --srun` asks of Slurm.
#[derive(Args, Debug, Clone, Default)]
pub struct SrunRequest {
    /// Run on a compute node through srun (Slurm servers), not the login node.
    #[arg(long)]
    pub srun: bool,
    /// With --srun: CPUs for the script (`--cpus-per-task`).
    #[arg(long, requires = "srun")]
    pub nprocs: Option<u32>,
    /// With --srun: the time limit (`--time`, e.g. 0:30:00).
    #[arg(long, requires = "srun")]
    pub walltime: Option<String>,
    /// With --srun: the partition (default: the server's, else the cluster's).
    #[arg(long, requires = "srun")]
    pub partition: Option<String>,
}

impl SrunRequest {
    /// The words put before `bash SCRIPT`: one task on one node, output
    /// unbuffered; the server's account and QOS apply. srun prints its own
    /// `queued and waiting for resources` while the allocation waits, and
    /// a TERM from an interrupt cancels the step and the allocation.
    pub fn launcher(&self, defaults: &SlurmDefaults) -> anyhow::Result<String> {
        let mut words = vec![
            "srun".to_string(),
            "--nodes=1".into(),
            "--ntasks=1".into(),
            "--unbuffered".into(),
            "--job-name=crimpl-run".into(),
        ];
        let mut add = |name: &str, value: Option<String>| -> anyhow::Result<()> {
            if let Some(value) = value {
                words.push(format!("--{name}={}", quote(&value)?));
            }
            Ok(())
        };
        add("cpus-per-task", self.nprocs.map(|n| n.to_string()))?;
        add("time", self.walltime.clone())?;
        add(
            "partition",
            self.partition.clone().or(defaults.partition.clone()),
        )?;
        add("account", defaults.account.clone())?;
        add("qos", defaults.qos.clone())?;
        Ok(words.join(" ") + " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srun_asks_for_what_the_cell_and_the_server_say() {
        let request = SrunRequest {
            srun: true,
            nprocs: Some(4),
            walltime: Some("0:30:00".into()),
            partition: None,
        };
        let defaults = SlurmDefaults {
            partition: Some("gpu".into()),
            account: Some("proj 42".into()),
            ..Default::default()
        };
        assert_eq!(
            request.launcher(&defaults).unwrap(),
            "srun --nodes=1 --ntasks=1 --unbuffered --job-name=crimpl-run --cpus-per-task=4 \
             --time=0:30:00 --partition=gpu --account='proj 42' "
        );
    }
}
