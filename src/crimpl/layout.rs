//! The on-server layout, compatible with crimpl's: the one place that names
//! job directories and crimpl's own files, and checks the names users give.
//!
//! ```text
//! <directory>/crimpl-job-<name>/
//!     crimpl_submit_script.sh   the cell body, as written
//!     crimpl-input-files.list   names of the files sent with it, one per line
//!     crimpl-job.status         starting | running | complete | failed | canceled
//!     crimpl-wrapper.sh         runs the body, records pid, times, exit code, log
//!     crimpl-job.pid | .process | .started | .ended | .exitcode | .log | .canceled | .attempt
//!     crimpl-job.after | .reason                        (--after: what it waits for, why it never ran)
//!     crimpl-array.tasks, crimpl-task-wrapper.sh, task-0007/  (arrays: one directory per task)
//!     crimpl-slurm.id | .cluster | .end, crimpl-slurm-<id>.out   (Slurm jobs)
//!     <anything else>           job files: inputs, and outputs to fetch
//! ```

use anyhow::bail;

/// Prefix of every job directory inside the server directory.
pub const JOB_DIR_PREFIX: &str = "crimpl-job-";
/// Files whose names start with this belong to crimpl, not to the job.
pub const OWN_FILE_PREFIX: &str = "crimpl";
/// The submitted script (the cell body).
pub const SUBMIT_SCRIPT: &str = "crimpl_submit_script.sh";
/// Start of the name of a `run` script, written in the server directory.
pub const RUN_SCRIPT_PREFIX: &str = "crimpl_run_script";

/// A fresh name for one `run` script, so that two notebooks running `run`
/// on one server at once never execute each other's script.
pub fn run_script_name() -> String {
    format!("{RUN_SCRIPT_PREFIX}.{}.sh", uuid::Uuid::new_v4().simple())
}

/// Where the `run` command with script `script_name` records its process.
pub fn run_pid_name(script_name: &str) -> String {
    let stem = script_name.strip_suffix(".sh").unwrap_or(script_name);
    format!("{stem}.pid")
}

/// Names of the files sent as inputs.
pub const INPUT_LIST: &str = "crimpl-input-files.list";
/// The status word.
pub const STATUS_FILE: &str = "crimpl-job.status";
/// Our wrapper around the submitted script.
pub const WRAPPER: &str = "crimpl-wrapper.sh";
/// Process id of the wrapper (its process group and session id too).
pub const PID_FILE: &str = "crimpl-job.pid";
/// What identifies the wrapper process for sure, one per line: host name,
/// boot id, and the process's start time (so a reused pid is not the job).
pub const PROCESS_FILE: &str = "crimpl-job.process";
/// Process id file written by crimpl 0.2.0's nohup jobs.
pub const CRIMPL_PID_FILE: &str = "crimpl-nohup.pid";
/// UTC start time.
pub const STARTED_FILE: &str = "crimpl-job.started";
/// UTC end time.
pub const ENDED_FILE: &str = "crimpl-job.ended";
/// The script's exit code.
pub const EXIT_CODE_FILE: &str = "crimpl-job.exitcode";
/// The script's stdout and stderr, interleaved.
pub const LOG_FILE: &str = "crimpl-job.log";
/// Written by `kill` before signalling, so a killed job reads `canceled`.
pub const CANCELED_FILE: &str = "crimpl-job.canceled";
/// The Slurm job id of the latest submission.
pub const SLURM_ID_FILE: &str = "crimpl-slurm.id";
/// The Slurm cluster of the latest submission, when sbatch named one
/// (`--parsable` prints `id;cluster` for `-M`).
pub const SLURM_CLUSTER_FILE: &str = "crimpl-slurm.cluster";
/// What Slurm said of the job's end, saved once learnt (one line,
/// `SOURCE TEXT`: `squeue TIMEOUT`, `sacct CANCELLED by 1000|0:15`,
/// `output <the output file's last *** line>`).
pub const SLURM_END_FILE: &str = "crimpl-slurm.end";
/// The jobs this one waits for, one per line: `JOB ok` or `JOB any`.
pub const AFTER_FILE: &str = "crimpl-job.after";
/// Why crimpl ended a job before it ran (the dependency that failed).
pub const REASON_FILE: &str = "crimpl-job.reason";
/// The number of the script's current run under one submission (1, 2, ...
/// when a scheduler requeues the job).
pub const ATTEMPT_FILE: &str = "crimpl-job.attempt";

/// Locked (`flock`) by the submit command while it unpacks the upload, so
/// that no other kernel takes a submit under way for one cut short.
pub const SUBMITTING_LOCK: &str = "crimpl-job.submitting";

/// Prefix of a task directory's name.
pub const TASK_DIR_PREFIX: &str = "task-";
/// The array's task directories in the order they run, one per line.
pub const TASK_LIST: &str = "crimpl-array.tasks";
/// The task wrapper of an array (each task directory links to it).
pub const TASK_WRAPPER: &str = "crimpl-task-wrapper.sh";
/// A task's environment (`export NAME=value` lines), read by the wrapper.
pub const TASK_ENV: &str = "crimpl-task.env";

/// Slurm's own output file for the job with Slurm id `id` (what `#SBATCH
/// --output` names: Slurm's messages such as "DUE TO TIME LIMIT").
pub fn slurm_output_name(id: &str) -> String {
    format!("crimpl-slurm-{id}.out")
}

/// Whether `name` is a task directory's name (`task-0007`).
pub fn is_task_dir(name: &str) -> bool {
    name.strip_prefix(TASK_DIR_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The job directory's name for job `name`.
pub fn job_dir_name(name: &str) -> String {
    format!("{JOB_DIR_PREFIX}{name}")
}

/// Check a job name: letters, digits, `.`, `_`, `-`, `+`, at most 100
/// characters, not starting with `.` or `-`. Anything else (spaces, `/`,
/// `..`, `$`, `;`, quotes) is refused, so a name is always one plain path part.
pub fn validate_job_name(name: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
    if name.is_empty() || name.len() > 100 {
        bail!("job name {name:?} must have 1 to 100 characters");
    }
    if name.starts_with('.') || name.starts_with('-') {
        bail!("job name {name:?} must not start with '.' or '-'");
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        bail!(
            "job name {name:?} contains {bad:?}: use only letters, digits, '.', '_', '-' and '+'"
        );
    }
    Ok(())
}

/// Check the name a file will have in the job directory (the basename of a sent file).
pub fn validate_file_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        bail!("{name:?} is not a file name");
    }
    if name.contains('\n') || name.contains('\r') || name.contains('\0') {
        bail!("file name {name:?} contains a line break or NUL; rename it before sending");
    }
    if name.starts_with(OWN_FILE_PREFIX) {
        bail!(
            "file name {name:?} starts with {OWN_FILE_PREFIX:?}, which crimpl reserves for its own files; rename it"
        );
    }
    Ok(())
}

/// Whether a job-directory entry is one of crimpl's own files.
pub fn is_own_file(name: &str) -> bool {
    name.starts_with(OWN_FILE_PREFIX)
}

/// A job name from the date and time, as crimpl makes them (`2026.11.25-14.03.59`).
pub fn job_name_now() -> String {
    chrono::Local::now().format("%Y.%m.%d-%H.%M.%S").to_string()
}

/// The input names on one line of the input list: ours has one name per
/// line; crimpl 0.2.0 wrote space-separated names on a line. A line that is
/// not itself a job file (`exists`) is read the old way.
pub fn input_names(line: &str, exists: bool) -> Vec<String> {
    if exists {
        vec![line.to_string()]
    } else {
        line.split_whitespace().map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_job_names_are_refused() {
        for name in [
            "a b",
            "x;rm -rf ~",
            "$(id)",
            "../up",
            "",
            ".hidden",
            "-n",
            "a/b",
            "q'uote",
            "new\nline",
        ] {
            assert!(validate_job_name(name).is_err(), "{name:?} accepted");
        }
        for name in ["run-1", "2026.11.25-14.03.59", "fit_v2+b"] {
            assert!(validate_job_name(name).is_ok(), "{name:?} refused");
        }
    }

    #[test]
    fn file_names_keep_out_of_crimpl_files_and_paths() {
        assert!(validate_file_name("data file;$(id).csv").is_ok());
        assert!(validate_file_name("..").is_err());
        assert!(validate_file_name("crimpl-job.status").is_err());
        assert!(validate_file_name("a\nb").is_err());
    }

    #[test]
    fn input_lists_of_both_formats_are_read() {
        assert_eq!(input_names("my data.csv", true), vec!["my data.csv"]);
        assert_eq!(input_names("a.py b.txt", false), vec!["a.py", "b.txt"]);
    }
}
