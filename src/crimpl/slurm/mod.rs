//! Slurm: the batch script around the job wrapper, `sbatch`, `scancel`, and
//! reading job states from `squeue` together with the wrapper's own record
//! and what Slurm said of each job's end.

mod batch;
mod queue;
mod refusal;
mod site;
mod srun;

pub use batch::{BATCH_SCRIPT, BatchRequest, SlurmDefaults, SlurmOptions, batch_script};
pub use queue::{QUEUE_MARKER, Queue, follow_up, knows, parse_queue, queue_command, status};
pub use refusal::{Asked, explain as explain_refusal};
pub use site::{DEFAULT_MAX_ARRAY_SIZE, LIMITS_COMMAND, Piece, SiteLimits, parse_limits, pieces};
pub use srun::SrunRequest;

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
/// whose dependency failed is canceled by Slurm). With `--max-parallel`, the
/// pieces of a split sweep run one after another, so the cap holds for the
/// whole sweep.
pub fn start(job_dir: &str, array: Option<&ArrayStart<'_>>) -> String {
    let dep = "${dep:+--dependency=\"$dep\" --kill-on-invalid-dep=yes}";
    // With --max-parallel, each piece of a split sweep waits for the one
    // before it to end (its id is still in $id): Slurm's `%N` throttles one
    // array, so pieces running side by side would run N each.
    let chained = "--dependency=\"${dep:+$dep,}afterany:${id%%;*}\" --kill-on-invalid-dep=yes";
    let submit = |options: &str, deps: &str, arg: &str, offset: u64, last: u64| {
        format!(
            "id=$(sbatch --parsable{options} {deps} {BATCH_SCRIPT}{arg}) || {{ [ -z \"$q\" ] || scancel $q; exit 1; }}; \
             q=\"$q ${{id%%;*}}\"; p=\"$p ${{id%%;*}} {offset} {last}\"; "
        )
    };
    let (submits, only) = match array {
        // The batch script's own `--array` (the whole sweep, under MaxArraySize).
        Some(a) if a.all && matches!(a.pieces, [piece] if piece.offset == 0) => {
            (submit("", dep, "", 0, MAX_TASK_ID), "*".to_string())
        }
        Some(a) => {
            let mut text = String::new();
            if a.pieces.iter().any(|p| p.offset > 0) {
                text.push_str(&format!("mkdir -p {PIECES_OUTPUT_DIR} && "));
            }
            let chain = a.max_parallel.is_some() && a.pieces.len() > 1;
            for (index, piece) in a.pieces.iter().enumerate() {
                let deps = if chain && index > 0 { chained } else { dep };
                let mut options = format!(" --array={}", piece.spec(a.max_parallel));
                let mut arg = String::new();
                if piece.offset > 0 {
                    let output = format!("{PIECES_OUTPUT_DIR}/%A_%a.out");
                    options.push_str(&format!(" --output={output} --error={output}"));
                    arg = format!(" {}", piece.offset);
                }
                let last = piece.ids.last().copied().unwrap_or(piece.offset);
                text.push_str(&submit(&options, deps, &arg, piece.offset, last));
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
        None => (submit("", dep, "", 0, MAX_TASK_ID), "*".to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Run `start` in a job directory of `ids`' tasks with an sbatch that
    /// answers 101, 102, ... and logs its arguments.
    fn started(ids: &[u64], size: u64, all: bool) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let sbatch = bin.join("sbatch");
        std::fs::write(
            &sbatch,
            "#!/bin/sh\necho \"$*\" >> ../sbatch.log\nn=$(($(wc -l < ../sbatch.log) + 100))\necho $n\n",
        )
        .unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(&sbatch)
            .status()
            .unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir(&job).unwrap();
        let mut list = String::new();
        for id in 1..=25 {
            std::fs::create_dir(job.join(format!("task-{id:04}"))).unwrap();
            list.push_str(&format!("task-{id:04}\t{id}\n"));
        }
        std::fs::write(job.join(TASK_LIST), list).unwrap();
        let pieces = pieces(ids, size);
        let command = start(
            "job",
            Some(&ArrayStart {
                pieces: &pieces,
                max_parallel: Some(2),
                all,
            }),
        );
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let out = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(dir.path())
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::read_to_string(dir.path().join("sbatch.log")).unwrap();
        (dir, log)
    }

    fn read(dir: &tempfile::TempDir, path: &str) -> String {
        std::fs::read_to_string(dir.path().join("job").join(path)).unwrap()
    }

    #[test]
    fn a_sweep_past_max_array_size_is_several_arrays_each_task_knowing_its_own() {
        let ids: Vec<u64> = (1..=25).collect();
        let (dir, log) = started(&ids, 11, true);
        let calls: Vec<&str> = log.lines().collect();
        assert_eq!(calls.len(), 3, "{log}");
        assert!(calls[0].starts_with("--parsable --array=1-10%2 "), "{log}");
        assert!(
            calls[1].contains("--array=0-10%2 --output=crimpl-slurm-out/%A_%a.out"),
            "{log}"
        );
        assert!(calls[2].ends_with(&format!("{BATCH_SCRIPT} 22")), "{log}");
        // --max-parallel 2 holds for the sweep: each piece waits for the one before it.
        assert!(!calls[0].contains("--dependency"), "{log}");
        assert!(calls[1].contains("--dependency=afterany:101 "), "{log}");
        assert!(calls[2].contains("--dependency=afterany:102 "), "{log}");
        assert_eq!(read(&dir, SLURM_ID_FILE), "101\n102\n103\n");
        assert_eq!(
            read(&dir, &format!("task-0010/{SLURM_ID_FILE}")),
            "101_10\n"
        );
        assert_eq!(read(&dir, &format!("task-0011/{SLURM_ID_FILE}")), "102_0\n");
        assert_eq!(read(&dir, &format!("task-0025/{SLURM_ID_FILE}")), "103_3\n");
        // Run again: only the tasks named get new ids.
        let (dir, log) = started(&[4, 13, 24], 11, false);
        assert_eq!(log.lines().count(), 3, "{log}");
        assert_eq!(read(&dir, &format!("task-0013/{SLURM_ID_FILE}")), "102_0\n");
        assert_eq!(read(&dir, &format!("task-0024/{SLURM_ID_FILE}")), "103_0\n");
        assert!(
            !dir.path()
                .join("job/task-0005")
                .join(SLURM_ID_FILE)
                .exists()
        );
    }
}
