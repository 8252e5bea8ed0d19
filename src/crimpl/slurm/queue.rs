//! Reading Slurm jobs' states: one `squeue` listing for all of a user's
//! jobs (every partition, recently ended jobs too, and the clusters jobs
//! were sent to), the wrapper's own record, and what Slurm said of a job's
//! end (saved in its directory once learnt, since Slurm forgets ended jobs
//! after MinJobAge when accounting is off).

use std::collections::HashMap;

use crate::crimpl::array::MAX_TASKS;
use crate::crimpl::job::SurveyLine;
use crate::crimpl::layout::{
    AFTER_FILE, JOB_DIR_PREFIX, SLURM_CLUSTER_FILE, SLURM_END_FILE, STARTED_FILE, STATUS_FILE,
    slurm_output_name,
};
use crate::crimpl::scripts::quote;
use crate::crimpl::status::{EndReason, JobStatus};

/// Slurm's reason for a job whose dependency can never be satisfied (it
/// failed), which `--kill-on-invalid-dep` then cancels.
const NEVER_SATISFIED: &str = "DependencyNeverSatisfied";
/// Printed between the queue listing and the survey in one status command.
pub const QUEUE_MARKER: &str = "--crimpl-survey--";
/// Printed before the listing of the clusters named by `sbatch -M`.
const CLUSTERS_MARKER: &str = "--crimpl-clusters--";
/// This user's jobs in every partition (hidden ones too), including those
/// that ended in the last MinJobAge seconds, as `id|STATE|reason`.
const SQUEUE: &str = "squeue --me --all --states=all --noheader --format='%i|%T|%r'";

/// The command listing the queue: the default cluster, then the clusters
/// recorded by the job directories under `directory` (a shell word).
pub fn queue_command(directory: &str) -> String {
    format!(
        r#"{SQUEUE} 2>&1 || echo crimpl-squeue-failed
cl=; for f in {directory}/{JOB_DIR_PREFIX}*/{SLURM_CLUSTER_FILE}; do
  [ -f "$f" ] || continue; c=; read -r c < "$f"
  case ",$cl," in *",$c,"*) ;; *) cl="$cl${{cl:+,}}$c";; esac
done
if [ -n "$cl" ]; then echo {CLUSTERS_MARKER}; {SQUEUE} --clusters="$cl" 2>&1 || echo crimpl-squeue-failed; fi"#
    )
}

/// One job in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Slurm's state (`PENDING`, `RUNNING`, `TIMEOUT`, ...).
    pub state: String,
    /// Slurm's reason (`Resources`, `JobHeldUser`, `None`).
    pub reason: String,
}

/// The queue by Slurm id (`cluster/id` for jobs of a named cluster), or why
/// it could not be read.
pub type Queue = Result<HashMap<String, Queued>, String>;

/// Parse [`queue_command`]'s output.
pub fn parse_queue(text: &str) -> Queue {
    if text.contains("crimpl-squeue-failed") {
        return Err(format!(
            "squeue failed: {}",
            text.replace("crimpl-squeue-failed", "").trim()
        ));
    }
    let mut cluster: Option<String> = None;
    let mut queue = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line == CLUSTERS_MARKER {
            continue;
        }
        if let Some(name) = line.strip_prefix("CLUSTER:") {
            cluster = Some(name.trim().to_string());
            continue;
        }
        let mut parts = line.splitn(3, '|');
        let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let key = match &cluster {
            Some(cluster) => format!("{cluster}/{id}"),
            None => id.to_string(),
        };
        let reason = parts.next().unwrap_or_default().to_string();
        for key in array_keys(&key) {
            queue.insert(
                key,
                Queued {
                    state: state.to_string(),
                    reason: reason.clone(),
                },
            );
        }
    }
    Ok(queue)
}

/// The keys of the tasks squeue lists on one line (`12_[3-5,9%2]`, the
/// array's tasks that have not started), or the key itself.
fn array_keys(key: &str) -> Vec<String> {
    let Some((job, rest)) = key.split_once("_[") else {
        return vec![key.to_string()];
    };
    let list = rest.trim_end_matches(']');
    let list = list.split_once('%').map_or(list, |(list, _)| list);
    let mut keys = Vec::new();
    for part in list.split(',') {
        let (range, step) = part.split_once(':').unwrap_or((part, "1"));
        let step: u64 = step.parse().unwrap_or(1).max(1);
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let (Ok(first), Ok(last)) = (first.parse::<u64>(), last.parse::<u64>()) else {
            continue;
        };
        for id in (first..=last).step_by(step as usize) {
            if keys.len() >= MAX_TASKS {
                break;
            }
            keys.push(format!("{job}_{id}"));
        }
    }
    keys
}

/// The queue key of a surveyed job.
fn key(line: &SurveyLine) -> String {
    if line.cluster.is_empty() {
        line.slurm_id.clone()
    } else {
        format!("{}/{}", line.cluster, line.slurm_id)
    }
}

/// Whether the queue lists the job (it ended too long ago, or was submitted
/// after the queue was read, if not).
pub fn knows(queue: &Queue, line: &SurveyLine) -> bool {
    queue.as_ref().is_ok_and(|q| q.contains_key(&key(line)))
}

/// A job's status, and why it ended when Slurm says more than the status.
pub type Resolved = (JobStatus, Option<EndReason>);

/// Read a Slurm state that ends a job (`TIMEOUT`, `CANCELLED by 1000`,
/// `OUT_OF_MEMORY`), for a job whose script exited with `exit` (if known)
/// and that crimpl's `kill` marked (`ours`); `None` for states that do not end it.
pub fn ended_state(state: &str, exit: Option<i32>, ours: bool) -> Option<Resolved> {
    let mut words = state.split_whitespace();
    let word = words.next()?;
    let resolved = match word {
        "COMPLETED" => (JobStatus::Complete, None),
        "FAILED" => (JobStatus::Failed(exit), None),
        "CANCELLED" if words.clone().next() == Some(NEVER_SATISFIED) => {
            (JobStatus::Canceled, Some(EndReason::DependencyFailed(None)))
        }
        "CANCELLED" if ours => (JobStatus::Canceled, None),
        "CANCELLED" => {
            let by = match (words.next(), words.next()) {
                (Some("by"), Some(user)) => Some(user.to_string()),
                _ => None,
            };
            (JobStatus::Canceled, Some(EndReason::CanceledBy(by)))
        }
        "TIMEOUT" => reason(EndReason::Timeout, exit),
        "OUT_OF_MEMORY" => reason(EndReason::OutOfMemory, exit),
        "NODE_FAIL" => reason(EndReason::NodeFail, exit),
        "PREEMPTED" => reason(EndReason::Preempted, exit),
        "BOOT_FAIL" | "DEADLINE" | "SPECIAL_EXIT" => reason(
            EndReason::Other(word.to_lowercase().replace('_', "-")),
            exit,
        ),
        _ => return None,
    };
    Some(resolved)
}

fn reason(reason: EndReason, exit: Option<i32>) -> Resolved {
    (reason.status(exit), Some(reason))
}

/// Read saved evidence of a job's end (see
/// [`crate::crimpl::layout::SLURM_END_FILE`]); `None` if it settles nothing.
pub fn from_evidence(evidence: &str, exit: Option<i32>, ours: bool) -> Option<Resolved> {
    let (source, text) = evidence.split_once(' ')?;
    match source {
        "squeue" => ended_state(text, exit, ours),
        "dependency" => Some((
            JobStatus::Canceled,
            Some(EndReason::DependencyFailed(Some(text.to_string()))),
        )),
        "sacct" => {
            let (state, code) = text.split_once('|').unwrap_or((text, ""));
            // sacct's ExitCode is `code:signal`.
            let code = code.split(':').next().and_then(|c| c.parse().ok());
            ended_state(state, exit.or(code.filter(|c| *c != 0)), ours)
        }
        "output" => {
            let found = |needle: &str| text.contains(needle);
            let reason = if found("DUE TO TIME LIMIT") {
                EndReason::Timeout
            } else if found("DUE TO PREEMPTION") {
                EndReason::Preempted
            } else if found("DUE TO NODE FAIL") {
                EndReason::NodeFail
            } else if found("oom_kill") || found("oom-kill") || found("Out Of Memory") {
                EndReason::OutOfMemory
            } else if found("CANCELLED AT") && !found("DUE TO") {
                if ours {
                    return Some((JobStatus::Canceled, None));
                }
                EndReason::CanceledBy(None)
            } else {
                return None;
            };
            Some((reason.status(exit), Some(reason)))
        }
        _ => None,
    }
}

/// A Slurm job's status from the queue, its directory's record and any
/// evidence of its end. A job Slurm no longer knows, with no recorded end,
/// reads `lost` (the caller allows a grace period).
pub fn status(line: &SurveyLine, queue: &Queue) -> Resolved {
    let recorded = JobStatus::from_word(&line.status);
    let exit = line.exit_code.parse::<i32>().ok();
    let evidence = from_evidence(&line.evidence, exit, line.canceled);
    match recorded {
        Some(JobStatus::Failed(_)) => {
            return (
                JobStatus::Failed(exit),
                evidence.and_then(|(_, reason)| reason),
            );
        }
        Some(done) if done.is_final() => return (done, None),
        None if line.status.is_empty() => return (JobStatus::NotSubmitted, None),
        _ => {}
    }
    if let Some(resolved) = evidence {
        return resolved;
    }
    let queue = match queue {
        Ok(queue) => queue,
        Err(reason) => return (JobStatus::Unknown(reason.clone()), None),
    };
    let interrupted = recorded == Some(JobStatus::Interrupted);
    let Some(queued) = queue.get(&key(line)) else {
        return match line.canceled {
            true => (JobStatus::Canceled, None),
            false => (JobStatus::Lost, None),
        };
    };
    let reason =
        (!queued.reason.is_empty() && queued.reason != "None").then(|| queued.reason.clone());
    let status = match queued.state.as_str() {
        "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => JobStatus::Requeued(reason),
        "PENDING" | "SUSPENDED" if interrupted => JobStatus::Requeued(reason),
        "PENDING" | "SUSPENDED" => JobStatus::Pending(reason),
        "CONFIGURING" if !interrupted => JobStatus::Starting,
        state if state.starts_with("CANCELLED") && queued.reason == NEVER_SATISFIED => {
            return (JobStatus::Canceled, Some(EndReason::DependencyFailed(None)));
        }
        state => match ended_state(state, exit, line.canceled) {
            Some(resolved) => return resolved,
            None if interrupted => JobStatus::Interrupted,
            None if recorded == Some(JobStatus::Running) => JobStatus::Running,
            None => JobStatus::Starting,
        },
    };
    (status, None)
}

/// The command that learns and saves how jobs ended, for jobs whose record
/// does not say it yet (`None` if no job needs it): the state the queue
/// showed, else `sacct` (where accounting answers), else the last telling
/// line of Slurm's output file. Prints `name<TAB>evidence` per job saved.
pub fn follow_up(directory: &str, lines: &[SurveyLine], queue: &Queue) -> Option<String> {
    let queue = queue.as_ref().ok()?;
    let mut commands = Vec::new();
    for line in lines {
        // An array ends as its tasks do: only they are followed up.
        if !line.evidence.is_empty() || line.slurm_id.is_empty() || line.array {
            continue;
        }
        let recorded = JobStatus::from_word(&line.status);
        let signalled = matches!(line.exit_code.parse::<i32>(), Ok(code) if code > 128);
        let open = !recorded.as_ref().is_some_and(JobStatus::is_final);
        if !(open || recorded == Some(JobStatus::Failed(None)) && signalled) {
            continue;
        }
        let dir = format!("{directory}/{JOB_DIR_PREFIX}{}", line.name);
        let (Ok(id), Ok(name)) = (quote(&line.slurm_id), quote(&line.name)) else {
            continue;
        };
        match queue.get(&key(line)) {
            Some(queued) if ended_state(&queued.state, None, false).is_some() => {
                let said = match queued.reason.as_str() {
                    NEVER_SATISFIED => format!("squeue {} {NEVER_SATISFIED}", queued.state),
                    _ => format!("squeue {}", queued.state),
                };
                let Ok(evidence) = quote(&said) else {
                    continue;
                };
                commands.push(format!(
                    "printf '%s\\n' {evidence} > {dir}/{SLURM_END_FILE} && printf '%s\\t%s\\n' {name} {evidence}"
                ));
            }
            Some(_) => {}
            None => {
                let cluster = match quote(&line.cluster) {
                    Ok(c) if !line.cluster.is_empty() => format!(" --clusters={c}"),
                    _ => String::new(),
                };
                let output = slurm_output_name("$id");
                // A job Slurm canceled before it started because a job it
                // had to wait for failed (`--kill-on-invalid-dep`) leaves no
                // output: the failed job's record says why.
                commands.push(format!(
                    r#"id={id}; r=
if [ -f {dir}/{AFTER_FILE} ] && [ ! -f {dir}/{STARTED_FILE} ]; then
  while read -r j k; do
    [ "$k" = ok ] || continue; s=; e=; d={directory}/{JOB_DIR_PREFIX}$j
    [ -f "$d/{STATUS_FILE}" ] && read -r s < "$d/{STATUS_FILE}"
    [ -f "$d/{SLURM_END_FILE}" ] && read -r e < "$d/{SLURM_END_FILE}"
    case "$s $e" in failed*|canceled*|*" dependency "*) r="dependency $j"; break;; esac
  done < {dir}/{AFTER_FILE}
fi
[ -n "$r" ] || r=$(sacct{cluster} --noheader --parsable2 --allocations --jobs="$id" --format=State,ExitCode 2>/dev/null | head -n 1)
case $r in
  "dependency "*) ;;
  "CANCELLED by "*) u=${{r#CANCELLED by }}; u=${{u%%|*}}; n=$(id -nu "$u" 2>/dev/null) && r="CANCELLED by $n|${{r#*|}}"; r="sacct $r";;
  *'|'*) r="sacct $r";;
  *) r=$(tail -n 50 {dir}/"{output}" 2>/dev/null | grep -E 'DUE TO (TIME LIMIT|PREEMPTION|NODE FAIL)|CANCELLED AT [^ ]+ \*\*\*|oom[-_]kill|Out Of Memory' | tail -n 1); [ -n "$r" ] && r="output $r";;
esac
[ -n "$r" ] && printf '%s\n' "$r" > {dir}/{SLURM_END_FILE} && printf '%s\t%s\n' {name} "$r""#
                ));
            }
        }
    }
    (!commands.is_empty()).then(|| {
        let mut script = commands.join("\n");
        script.push_str("\ntrue");
        script
    })
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
    fn an_arrays_waiting_tasks_are_each_known() {
        let queue =
            parse_queue("12_[3-5,9%2]|PENDING|JobArrayTaskLimit\n12_1|RUNNING|None\n").unwrap();
        let mut keys: Vec<&String> = queue.keys().collect();
        keys.sort();
        assert_eq!(keys, ["12_1", "12_3", "12_4", "12_5", "12_9"]);
        assert_eq!(queue["12_9"].reason, "JobArrayTaskLimit");
    }

    #[test]
    fn queue_states_become_statuses() {
        let queue = parse_queue("12|PENDING|JobHeldUser\n13|RUNNING|None\n");
        assert_eq!(
            status(&line("pending", "12"), &queue).0,
            JobStatus::Pending(Some("JobHeldUser".into()))
        );
        assert_eq!(status(&line("running", "13"), &queue).0, JobStatus::Running);
        assert_eq!(
            status(&line("complete", "14"), &queue).0,
            JobStatus::Complete
        );
        assert_eq!(status(&line("running", "15"), &queue).0, JobStatus::Lost);
        let mut canceled = line("pending", "16");
        canceled.canceled = true;
        assert_eq!(status(&canceled, &queue).0, JobStatus::Canceled);
    }

    #[test]
    fn an_interrupted_job_follows_slurm_to_its_real_end() {
        let queue = parse_queue("7|PENDING|BeginTime\n8|TIMEOUT|TimeLimit\n9|RUNNING|None\n");
        assert_eq!(
            status(&line("interrupted", "7"), &queue).0,
            JobStatus::Requeued(Some("BeginTime".into()))
        );
        assert_eq!(
            status(&line("interrupted", "8"), &queue),
            (JobStatus::Failed(None), Some(EndReason::Timeout))
        );
        assert_eq!(
            status(&line("interrupted", "9"), &queue).0,
            JobStatus::Interrupted
        );
        assert!(!JobStatus::Interrupted.is_final());
    }

    #[test]
    fn saved_evidence_outlives_the_queue() {
        let queue = parse_queue("");
        let mut timed_out = line("interrupted", "8");
        timed_out.evidence =
            "output slurmstepd: error: *** JOB 8 ON n1 CANCELLED AT 2026-11-25T10:00:00 DUE TO TIME LIMIT ***".into();
        assert_eq!(status(&timed_out, &queue).1, Some(EndReason::Timeout));
        let mut canceled = line("interrupted", "9");
        canceled.evidence = "sacct CANCELLED by alice|0:15".into();
        assert_eq!(
            status(&canceled, &queue),
            (
                JobStatus::Canceled,
                Some(EndReason::CanceledBy(Some("alice".into())))
            )
        );
        let mut oom = line("failed", "10");
        oom.exit_code = "137".into();
        oom.evidence = "sacct OUT_OF_MEMORY|0:125".into();
        assert_eq!(
            status(&oom, &queue),
            (JobStatus::Failed(Some(137)), Some(EndReason::OutOfMemory))
        );
        let mut requeue = line("interrupted", "11");
        requeue.evidence =
            "output *** JOB 11 ON n1 CANCELLED AT 2026-11-25T10:00:00 DUE TO JOB REQUEUE ***"
                .into();
        assert_eq!(status(&requeue, &queue).0, JobStatus::Lost);
        let mut never_ran = line("pending", "12");
        never_ran.evidence = "dependency prep".into();
        assert_eq!(
            status(&never_ran, &queue),
            (
                JobStatus::Canceled,
                Some(EndReason::DependencyFailed(Some("prep".into())))
            )
        );
        let pending = parse_queue("13|CANCELLED|DependencyNeverSatisfied\n");
        assert_eq!(
            status(&line("pending", "13"), &pending).1,
            Some(EndReason::DependencyFailed(None))
        );
    }

    #[test]
    fn jobs_of_named_clusters_are_looked_up_there() {
        let queue = parse_queue(
            "5|RUNNING|None\n--crimpl-clusters--\nCLUSTER: other\n5|PENDING|Priority\n",
        );
        let mut remote = line("pending", "5");
        remote.cluster = "other".into();
        assert_eq!(
            status(&remote, &queue).0,
            JobStatus::Pending(Some("Priority".into()))
        );
        assert_eq!(status(&line("running", "5"), &queue).0, JobStatus::Running);
    }

    #[test]
    fn follow_up_saves_queue_states_and_probes_the_missing() {
        let queue = parse_queue("8|TIMEOUT|TimeLimit\n9|RUNNING|None\n");
        let lines = [
            line("interrupted", "8"),
            line("running", "9"),
            line("running", "10"),
        ];
        let command = follow_up("/d", &lines, &queue).unwrap();
        assert!(
            command.contains("'squeue TIMEOUT' > /d/crimpl-job-j/crimpl-slurm.end"),
            "{command}"
        );
        assert!(
            command.contains("id=10;") && !command.contains("id=9;"),
            "{command}"
        );
        assert!(follow_up("/d", &[line("complete", "8")], &queue).is_none());
    }

    #[test]
    fn a_failed_squeue_makes_open_jobs_unknown() {
        let queue = parse_queue("slurm_load_jobs error\ncrimpl-squeue-failed\n");
        assert!(matches!(
            status(&line("running", "1"), &queue).0,
            JobStatus::Unknown(_)
        ));
        assert_eq!(
            status(&line("complete", "1"), &queue).0,
            JobStatus::Complete
        );
    }
}
