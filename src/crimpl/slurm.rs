//! Slurm: the batch script around the job wrapper, `sbatch`, `scancel`, and
//! reading job states from `squeue` together with the wrapper's own record
//! (which is all there is once a job leaves the queue when accounting is off).

use std::collections::HashMap;

use anyhow::bail;

use super::job::SurveyLine;
use super::layout::{CANCELED_FILE, SLURM_ID_FILE, STATUS_FILE, WRAPPER};
use super::status::JobStatus;

/// The batch script submitted with `sbatch`.
pub const BATCH_SCRIPT: &str = "crimpl-slurm-batch.sh";
/// Printed between the queue listing and the survey in one status command.
pub const QUEUE_MARKER: &str = "--crimpl-survey--";
/// Lists this user's queued and running jobs as `id|STATE|reason`.
pub const QUEUE_COMMAND: &str =
    "squeue --me --noheader --format='%i|%T|%r' 2>&1 || echo crimpl-squeue-failed";
/// crimpl's default walltime.
pub const DEFAULT_WALLTIME: &str = "2-00:00:00";

/// Slurm's options for one submission.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// `--time` (default two days, as crimpl).
    pub walltime: Option<String>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--mail-type` (default `END,FAIL` when a mail user is set).
    pub mail_type: Option<String>,
    /// Any other sbatch options, each as written (`--hold`, `--mem=4G`, `-N 2`).
    pub extra: Vec<String>,
}

/// The `#SBATCH` script that runs the job wrapper. Extra options go into the
/// script itself, so a resubmit uses them again.
pub fn batch_script(
    job: &str,
    nprocs: Option<u32>,
    options: &SlurmOptions,
    mail_user: Option<&str>,
) -> anyhow::Result<String> {
    let mut lines = vec![
        format!("--job-name=crimpl-{job}"),
        format!("--ntasks={}", nprocs.unwrap_or(1)),
        format!(
            "--time={}",
            options.walltime.as_deref().unwrap_or(DEFAULT_WALLTIME)
        ),
        "--output=crimpl-slurm-%j.out".to_string(),
    ];
    if let Some(partition) = &options.partition {
        lines.push(format!("--partition={partition}"));
    }
    if let Some(mail) = mail_user {
        lines.push(format!("--mail-user={mail}"));
        lines.push(format!(
            "--mail-type={}",
            options.mail_type.as_deref().unwrap_or("END,FAIL")
        ));
    }
    lines.extend(options.extra.iter().cloned());
    for line in &lines {
        if line.contains(['\n', '\r', '\0']) {
            bail!("sbatch option {line:?} contains a line break");
        }
    }
    let directives: String = lines.iter().map(|l| format!("#SBATCH {l}\n")).collect();
    Ok(format!("#!/bin/sh\n{directives}exec sh ./{WRAPPER}\n"))
}

/// Submit the job in `job_dir` with sbatch and record its Slurm id.
pub fn start(job_dir: &str) -> String {
    format!(
        "cd {job_dir} && rm -f {CANCELED_FILE} && printf 'pending\\n' > {STATUS_FILE} && \
         id=$(sbatch --parsable {BATCH_SCRIPT}) && printf '%s\\n' \"${{id%%;*}}\" > {SLURM_ID_FILE} && echo \"$id\""
    )
}

/// Cancel the job in `job_dir` with scancel; it then reads `canceled`.
pub fn kill(job_dir: &str) -> String {
    format!(
        "cd {job_dir} || exit 3; read -r id < {SLURM_ID_FILE} || exit 4; touch {CANCELED_FILE}; scancel \"$id\" && \
         {{ read -r s < {STATUS_FILE}; case \"$s\" in canceled|complete|failed) ;; *) printf 'canceled\\n' > {STATUS_FILE};; esac; }}"
    )
}

/// One job in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Slurm's state (`PENDING`, `RUNNING`, ...).
    pub state: String,
    /// Slurm's reason (`Resources`, `JobHeldUser`, `None`).
    pub reason: String,
}

/// The queue by Slurm id, or why it could not be read.
pub type Queue = Result<HashMap<String, Queued>, String>;

/// Parse [`QUEUE_COMMAND`]'s output.
pub fn parse_queue(text: &str) -> Queue {
    if text.contains("crimpl-squeue-failed") {
        return Err(format!(
            "squeue failed: {}",
            text.replace("crimpl-squeue-failed", "").trim()
        ));
    }
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.trim().splitn(3, '|');
            let id = parts.next()?.to_string();
            let state = parts.next()?.to_string();
            let reason = parts.next().unwrap_or_default().to_string();
            Some((id, Queued { state, reason }))
        })
        .collect())
}

/// A Slurm job's status from the queue and its directory's record.
pub fn status(line: &SurveyLine, queue: &Queue) -> JobStatus {
    let recorded = JobStatus::from_word(&line.status);
    let exit = line.exit_code.parse::<i32>().ok();
    match recorded {
        Some(JobStatus::Failed(_)) => return JobStatus::Failed(exit),
        Some(done) if done.is_final() => return done,
        None if line.status.is_empty() => return JobStatus::NotSubmitted,
        _ => {}
    }
    let queue = match queue {
        Ok(queue) => queue,
        Err(reason) => return JobStatus::Unknown(reason.clone()),
    };
    match queue.get(&line.slurm_id) {
        Some(queued) => match queued.state.as_str() {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "SUSPENDED" => {
                let reason = (!queued.reason.is_empty() && queued.reason != "None")
                    .then(|| queued.reason.clone());
                JobStatus::Pending(reason)
            }
            "CONFIGURING" => JobStatus::Starting,
            _ if recorded == Some(JobStatus::Running) => JobStatus::Running,
            _ => JobStatus::Starting,
        },
        None if line.canceled => JobStatus::Canceled,
        None => JobStatus::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str, id: &str) -> SurveyLine {
        SurveyLine {
            name: "j".into(),
            status: status.into(),
            slurm_id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn batch_script_carries_options_and_runs_the_wrapper() {
        let options = SlurmOptions {
            partition: Some("debug".into()),
            extra: vec!["--hold".into()],
            ..Default::default()
        };
        let script = batch_script("fit", Some(4), &options, Some("me@example.org")).unwrap();
        for expected in [
            "#SBATCH --job-name=crimpl-fit",
            "#SBATCH --ntasks=4",
            "#SBATCH --time=2-00:00:00",
            "#SBATCH --partition=debug",
            "#SBATCH --mail-type=END,FAIL",
            "#SBATCH --hold",
            "exec sh ./crimpl-wrapper.sh",
        ] {
            assert!(
                script.contains(expected),
                "{expected} missing from\n{script}"
            );
        }
        let bad = SlurmOptions {
            extra: vec!["--x\n#SBATCH --y".into()],
            ..Default::default()
        };
        assert!(batch_script("fit", None, &bad, None).is_err());
    }

    #[test]
    fn queue_states_become_statuses() {
        let queue = parse_queue("12|PENDING|JobHeldUser\n13|RUNNING|None\n");
        assert_eq!(
            status(&line("pending", "12"), &queue),
            JobStatus::Pending(Some("JobHeldUser".into()))
        );
        assert_eq!(status(&line("running", "13"), &queue), JobStatus::Running);
        assert_eq!(status(&line("complete", "14"), &queue), JobStatus::Complete);
        assert_eq!(status(&line("running", "15"), &queue), JobStatus::Lost);
        let mut canceled = line("pending", "16");
        canceled.canceled = true;
        assert_eq!(status(&canceled, &queue), JobStatus::Canceled);
    }

    #[test]
    fn a_failed_squeue_makes_open_jobs_unknown() {
        let queue = parse_queue("slurm_load_jobs error\ncrimpl-squeue-failed\n");
        assert!(matches!(
            status(&line("running", "1"), &queue),
            JobStatus::Unknown(_)
        ));
        assert_eq!(status(&line("complete", "1"), &queue), JobStatus::Complete);
    }
}
