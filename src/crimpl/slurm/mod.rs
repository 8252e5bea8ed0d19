//! Slurm: the batch script around the job wrapper, `sbatch`, `scancel`, and
//! reading job states from `squeue` together with the wrapper's own record
//! and what Slurm said of each job's end.

mod batch;
mod queue;

pub use batch::{BATCH_SCRIPT, BatchRequest, SlurmDefaults, SlurmOptions, batch_script};
pub use queue::{QUEUE_MARKER, Queue, follow_up, knows, parse_queue, queue_command, status};

use super::layout::{
    AFTER_FILE, ATTEMPT_FILE, CANCELED_FILE, JOB_DIR_PREFIX, SLURM_CLUSTER_FILE, SLURM_END_FILE,
    SLURM_ID_FILE, STATUS_FILE, TASK_DIR_PREFIX, TASK_LIST,
};

/// The default least interval between two `squeue` of a Slurm server's watchers.
pub const SLURM_FLOOR_SECONDS: u64 = 30;

/// Submit the job in `job_dir` with sbatch and record its Slurm id (and
/// cluster, when sbatch names one: `--parsable` prints `id;cluster`); each
/// task of an array gets its own id, `ARRAYID_TASKID`, as squeue names it.
/// `tasks` (`1,4,7`) submits only those tasks of an array again. The jobs
/// its [`AFTER_FILE`] names become Slurm dependencies (a job whose
/// dependency failed is canceled by Slurm).
pub fn start(job_dir: &str, tasks: Option<&str>) -> String {
    let (array, only) = match tasks {
        Some(list) => (format!(" --array={list}"), list),
        None => (String::new(), "*"),
    };
    format!(
        "cd {job_dir} && rm -f {CANCELED_FILE} {ATTEMPT_FILE} {SLURM_END_FILE} {SLURM_CLUSTER_FILE} && \
         printf 'pending\\n' > {STATUS_FILE} && \
         {{ dep=; [ ! -f {AFTER_FILE} ] || while read -r j k; do i=; \
           read -r i < \"../{JOB_DIR_PREFIX}$j/{SLURM_ID_FILE}\" || {{ echo \"job $j has no Slurm job id to wait for\" >&2; exit 5; }}; \
           dep=\"$dep${{dep:+,}}after$k:$i\"; done < {AFTER_FILE}; }} && \
         id=$(sbatch --parsable{array} ${{dep:+--dependency=\"$dep\" --kill-on-invalid-dep=yes}} {BATCH_SCRIPT}) && printf '%s\\n' \"${{id%%;*}}\" > {SLURM_ID_FILE} && \
         case $id in *';'*) printf '%s\\n' \"${{id#*;}}\" > {SLURM_CLUSTER_FILE};; esac && \
         {{ [ ! -f {TASK_LIST} ] || while read -r t n; do \
           case ,{only}, in *,\"$n\",*|,\\*,) ;; *) continue;; esac; \
           printf '%s_%s\\n' \"${{id%%;*}}\" \"$n\" > \"$t/{SLURM_ID_FILE}\"; [ ! -f \"$t/{SLURM_CLUSTER_FILE}\" ] || rm -f \"$t/{SLURM_CLUSTER_FILE}\"; \
           case $id in *';'*) printf '%s\\n' \"${{id#*;}}\" > \"$t/{SLURM_CLUSTER_FILE}\";; esac; \
         done < {TASK_LIST}; }} && echo \"$id\""
    )
}

/// Cancel the job in `job_dir` with scancel (on its cluster); it then reads
/// `canceled` (an array: every task that has not ended).
pub fn kill(job_dir: &str) -> String {
    format!(
        "cd {job_dir} || exit 3; read -r id < {SLURM_ID_FILE} || exit 4; touch {CANCELED_FILE}; \
         m=; [ -f {SLURM_CLUSTER_FILE} ] && read -r m < {SLURM_CLUSTER_FILE}; \
         for t in {TASK_DIR_PREFIX}*/; do [ -d \"$t\" ] && : > \"$t/{CANCELED_FILE}\"; done; \
         scancel ${{m:+--clusters=\"$m\"}} \"$id\" && \
         {{ read -r s < {STATUS_FILE}; case \"$s\" in canceled|complete|failed) ;; *) printf 'canceled\\n' > {STATUS_FILE};; esac; }}"
    )
}
