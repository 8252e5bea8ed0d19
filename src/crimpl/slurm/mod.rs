//! Slurm: the batch script around the job wrapper, `sbatch`, `scancel`, and
//! reading job states from `squeue` together with the wrapper's own record
//! and what Slurm said of each job's end.

mod batch;
mod queue;
mod site;

pub use batch::{BATCH_SCRIPT, BatchRequest, SlurmDefaults, SlurmOptions, batch_script};
pub use queue::{QUEUE_MARKER, Queue, follow_up, knows, parse_queue, queue_command, status};
pub use site::{DEFAULT_MAX_ARRAY_SIZE, LIMITS_COMMAND, Piece, SiteLimits, parse_limits, pieces};

use super::array::MAX_TASK_ID;
use super::layout::{
    AFTER_FILE, ATTEMPT_FILE, CANCELED_FILE, JOB_DIR_PREFIX, SLURM_CLUSTER_FILE, SLURM_END_FILE,
    SLURM_ID_FILE, STATUS_FILE, TASK_DIR_PREFIX, TASK_LIST,
};

/// The default least interval between two `squeue` of a Slurm server's watchers.
pub const SLURM_FLOOR_SECONDS: u64 = 30;

/// Where Slurm writes the output of a task of a piece with an offset (its
/// output file name can only hold Slurm's index, not the task id); the
/// batch script links it into the task's directory when the task starts.
pub const PIECES_OUTPUT_DIR: &str = "crimpl-slurm-out";

/// The tasks of an array that a [`start`] submits, split into Slurm arrays.
pub struct ArrayStart<'a> {
    /// The Slurm arrays, each under the site's `MaxArraySize`.
    pub pieces: &'a [Piece],
    /// `--max-parallel`: at most this many tasks of each piece at once.
    pub max_parallel: Option<u32>,
    /// Whether these are all the array's tasks (its first submission).
    pub all: bool,
}

/// Submit the job in `job_dir` with sbatch and record its Slurm ids (and
/// cluster, when sbatch names one: `--parsable` prints `id;cluster`): one
/// line per Slurm array for a sweep split into pieces. Each task of an
/// array gets its own id, `ARRAYID_INDEX`, as squeue names it (the index
/// is the task id less its piece's offset). A piece that sbatch refuses
/// cancels the pieces submitted before it. The jobs its [`AFTER_FILE`]
/// names become Slurm dependencies (on every piece of a split sweep; a job
/// whose dependency failed is canceled by Slurm).
pub fn start(job_dir: &str, array: Option<&ArrayStart<'_>>) -> String {
    let dep = "${dep:+--dependency=\"$dep\" --kill-on-invalid-dep=yes}";
    let submit = |options: &str, arg: &str, offset: u64, last: u64| {
        format!(
            "id=$(sbatch --parsable{options} {dep} {BATCH_SCRIPT}{arg}) || {{ [ -z \"$q\" ] || scancel $q; exit 1; }}; \
             q=\"$q ${{id%%;*}}\"; p=\"$p ${{id%%;*}} {offset} {last}\"; "
        )
    };
    let (submits, only) = match array {
        // The batch script's own `--array` (the whole sweep, under MaxArraySize).
        Some(a) if a.all && matches!(a.pieces, [piece] if piece.offset == 0) => {
            (submit("", "", 0, MAX_TASK_ID), "*".to_string())
        }
        Some(a) => {
            let mut text = String::new();
            if a.pieces.iter().any(|p| p.offset > 0) {
                text.push_str(&format!("mkdir -p {PIECES_OUTPUT_DIR} && "));
            }
            for piece in a.pieces {
                let mut options = format!(" --array={}", piece.spec(a.max_parallel));
                let mut arg = String::new();
                if piece.offset > 0 {
                    let output = format!("{PIECES_OUTPUT_DIR}/%A_%a.out");
                    options.push_str(&format!(" --output={output} --error={output}"));
                    arg = format!(" {}", piece.offset);
                }
                let last = piece.ids.last().copied().unwrap_or(piece.offset);
                text.push_str(&submit(&options, &arg, piece.offset, last));
            }
            let only = match a.all {
                true => "*".to_string(),
                false => a
                    .pieces
                    .iter()
                    .flat_map(|p| &p.ids)
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            };
            (text, only)
        }
        None => (submit("", "", 0, MAX_TASK_ID), "*".to_string()),
    };
    format!(
        "cd {job_dir} && rm -f {CANCELED_FILE} {ATTEMPT_FILE} {SLURM_END_FILE} {SLURM_CLUSTER_FILE} && \
         printf 'pending\\n' > {STATUS_FILE} && \
         {{ dep=; [ ! -f {AFTER_FILE} ] || while read -r j k; do i=; \
           i=$(tr '\\n' ':' < \"../{JOB_DIR_PREFIX}$j/{SLURM_ID_FILE}\") && [ -n \"$i\" ] || {{ echo \"job $j has no Slurm job id to wait for\" >&2; exit 5; }}; \
           dep=\"$dep${{dep:+,}}after$k:${{i%:}}\"; done < {AFTER_FILE}; }} && \
         {{ q=; p=; {submits}printf '%s\\n' $q > {SLURM_ID_FILE} && \
         case $id in *';'*) printf '%s\\n' \"${{id#*;}}\" > {SLURM_CLUSTER_FILE};; esac && \
         {{ [ ! -f {TASK_LIST} ] || {{ set -- $p; while read -r t n; do \
           case ,{only}, in *,\"$n\",*|,\\*,) ;; *) continue;; esac; \
           while [ $# -gt 3 ] && [ \"$n\" -gt \"$3\" ]; do shift 3; done; \
           printf '%s_%s\\n' \"$1\" \"$((n - $2))\" > \"$t/{SLURM_ID_FILE}\"; [ ! -f \"$t/{SLURM_CLUSTER_FILE}\" ] || rm -f \"$t/{SLURM_CLUSTER_FILE}\"; \
           case $id in *';'*) printf '%s\\n' \"${{id#*;}}\" > \"$t/{SLURM_CLUSTER_FILE}\";; esac; \
         done < {TASK_LIST}; }}; }} && echo \"$id\"; }}"
    )
}

/// Cancel the job in `job_dir` with scancel (on its cluster; every piece of
/// a split sweep); it then reads `canceled` (an array: every task that has
/// not ended).
pub fn kill(job_dir: &str) -> String {
    format!(
        "cd {job_dir} || exit 3; read -r id < {SLURM_ID_FILE} || exit 4; ids=$(cat {SLURM_ID_FILE}); touch {CANCELED_FILE}; \
         m=; [ -f {SLURM_CLUSTER_FILE} ] && read -r m < {SLURM_CLUSTER_FILE}; \
         for t in {TASK_DIR_PREFIX}*/; do [ -d \"$t\" ] && : > \"$t/{CANCELED_FILE}\"; done; \
         scancel ${{m:+--clusters=\"$m\"}} $ids && \
         {{ read -r s < {STATUS_FILE}; case \"$s\" in canceled|complete|failed) ;; *) printf 'canceled\\n' > {STATUS_FILE};; esac; }}"
    )
}
