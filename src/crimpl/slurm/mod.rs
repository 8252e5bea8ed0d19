//! Slurm: the batch script around the job wrapper, `sbatch`, `scancel`, and
//! reading job states from `squeue` together with the wrapper's own record
//! and what Slurm said of each job's end.

mod batch;
mod queue;

pub use batch::{
    BATCH_SCRIPT, BatchRequest, BatchScript, SlurmDefaults, SlurmOptions, batch_script,
};
pub use queue::{
    QUEUE_MARKER, Queue, Resolved, follow_up, knows, parse_queue, queue_command, status,
};

use super::layout::{
    ATTEMPT_FILE, CANCELED_FILE, SLURM_CLUSTER_FILE, SLURM_END_FILE, SLURM_ID_FILE, STATUS_FILE,
};

/// Submit the job in `job_dir` with sbatch and record its Slurm id (and
/// cluster, when sbatch names one: `--parsable` prints `id;cluster`).
pub fn start(job_dir: &str) -> String {
    format!(
        "cd {job_dir} && rm -f {CANCELED_FILE} {ATTEMPT_FILE} {SLURM_END_FILE} {SLURM_CLUSTER_FILE} && \
         printf 'pending\\n' > {STATUS_FILE} && \
         id=$(sbatch --parsable {BATCH_SCRIPT}) && printf '%s\\n' \"${{id%%;*}}\" > {SLURM_ID_FILE} && \
         case $id in *';'*) printf '%s\\n' \"${{id#*;}}\" > {SLURM_CLUSTER_FILE};; esac && echo \"$id\""
    )
}

/// Cancel the job in `job_dir` with scancel (on its cluster); it then reads `canceled`.
pub fn kill(job_dir: &str) -> String {
    format!(
        "cd {job_dir} || exit 3; read -r id < {SLURM_ID_FILE} || exit 4; touch {CANCELED_FILE}; \
         m=; [ -f {SLURM_CLUSTER_FILE} ] && read -r m < {SLURM_CLUSTER_FILE}; \
         scancel ${{m:+--clusters=\"$m\"}} \"$id\" && \
         {{ read -r s < {STATUS_FILE}; case \"$s\" in canceled|complete|failed) ;; *) printf 'canceled\\n' > {STATUS_FILE};; esac; }}"
    )
}
