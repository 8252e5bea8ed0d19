//! The job-status vocabulary: the one place that names a job's states.

use std::fmt;

/// Where a job is in its life, as crimpl's users know the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Created on the server, never started.
    NotSubmitted,
    /// Waiting in a scheduler queue (Slurm's reason, when it gives one).
    Pending(Option<String>),
    /// Started, the user's script not yet running.
    Starting,
    /// The user's script is running.
    Running,
    /// The script was signalled by something other than crimpl's `kill` (a
    /// scheduler's time limit, preemption or requeue): not an end until the
    /// scheduler says what happened.
    Interrupted,
    /// The scheduler put the job back in its queue to run it again from the
    /// start (Slurm's reason, when it gives one).
    Requeued(Option<String>),
    /// The script exited with status 0.
    Complete,
    /// The script exited with a non-zero status (when known).
    Failed(Option<i32>),
    /// Killed on request (`kill`, `scancel`).
    Canceled,
    /// The process or instance is gone and never recorded an end.
    Lost,
    /// The server cannot be asked now (the reason says why).
    Unknown(String),
}

impl JobStatus {
    /// The status word (`complete`, `failed`, ...), as written in `crimpl-job.status`.
    pub fn word(&self) -> &'static str {
        match self {
            JobStatus::NotSubmitted => "not-submitted",
            JobStatus::Pending(_) => "pending",
            JobStatus::Starting => "starting",
            JobStatus::Running => "running",
            JobStatus::Interrupted => "interrupted",
            JobStatus::Requeued(_) => "requeued",
            JobStatus::Complete => "complete",
            JobStatus::Failed(_) => "failed",
            JobStatus::Canceled => "canceled",
            JobStatus::Lost => "lost",
            JobStatus::Unknown(_) => "unknown",
        }
    }

    /// Whether the job can no longer change by itself.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobStatus::Complete | JobStatus::Failed(_) | JobStatus::Canceled | JobStatus::Lost
        )
    }

    /// Whether the job ended badly (failed, canceled or lost).
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            JobStatus::Failed(_) | JobStatus::Canceled | JobStatus::Lost
        )
    }

    /// Read a status word as found in a `crimpl-job.status` file, including
    /// the words crimpl 0.2.0 wrote (`killed`).
    pub fn from_word(word: &str) -> Option<JobStatus> {
        Some(match word.trim() {
            "not-submitted" => JobStatus::NotSubmitted,
            "pending" => JobStatus::Pending(None),
            "starting" => JobStatus::Starting,
            "running" => JobStatus::Running,
            "interrupted" => JobStatus::Interrupted,
            "requeued" => JobStatus::Requeued(None),
            "complete" => JobStatus::Complete,
            "failed" => JobStatus::Failed(None),
            "canceled" | "cancelled" | "killed" => JobStatus::Canceled,
            "lost" => JobStatus::Lost,
            _ => return None,
        })
    }

    /// The words a user may name in `wait --until`.
    pub const WORDS: [&'static str; 11] = [
        "not-submitted",
        "pending",
        "starting",
        "running",
        "interrupted",
        "requeued",
        "complete",
        "failed",
        "canceled",
        "lost",
        "unknown",
    ];
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobStatus::Pending(Some(reason)) => write!(f, "pending ({reason})"),
            JobStatus::Requeued(Some(reason)) => write!(f, "requeued ({reason})"),
            JobStatus::Failed(Some(code)) => write!(f, "failed (exit code {code})"),
            JobStatus::Unknown(reason) => write!(f, "unknown ({reason})"),
            other => f.write_str(other.word()),
        }
    }
}

/// Why a job ended, when its scheduler says more than the status does
/// (Slurm's job state, accounting, or its output file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// Killed at its time limit.
    Timeout,
    /// Killed for using more memory than it asked for.
    OutOfMemory,
    /// A node it ran on failed.
    NodeFail,
    /// Preempted by a job of higher priority (and not requeued).
    Preempted,
    /// Canceled, by this user (the name or uid the scheduler gives).
    CanceledBy(Option<String>),
    /// Another scheduler state (`boot-fail`, `deadline`), as a word.
    Other(String),
    /// The script was killed by this signal (its exit code is 128 + N).
    Signal(i32),
    /// It never ran: a job it waited for (`--after`, named when known) failed.
    DependencyFailed(Option<String>),
    /// The machine it ran on ended under it (an EC2 instance terminated or
    /// stopped: spot interruption, a stop from the console), as said here.
    MachineEnded(String),
}

impl EndReason {
    /// The signal that ended a script exiting with `code` (a shell reports
    /// a death by signal N as 128 + N).
    pub fn from_exit_code(code: i32) -> Option<Self> {
        (129..=128 + 64)
            .contains(&code)
            .then(|| EndReason::Signal(code - 128))
    }

    /// The status a job that ended for this reason has.
    pub fn status(&self, exit: Option<i32>) -> JobStatus {
        match self {
            EndReason::CanceledBy(_) | EndReason::DependencyFailed(_) => JobStatus::Canceled,
            _ => JobStatus::Failed(exit),
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Timeout => f.write_str("timeout"),
            EndReason::OutOfMemory => f.write_str("out-of-memory"),
            EndReason::NodeFail => f.write_str("node-fail"),
            EndReason::Preempted => f.write_str("preempted"),
            EndReason::CanceledBy(Some(user)) => write!(f, "canceled (by {user})"),
            EndReason::CanceledBy(None) => f.write_str("canceled"),
            EndReason::Other(word) => f.write_str(word),
            EndReason::DependencyFailed(Some(job)) => {
                write!(f, "canceled: job {job} it waited for failed")
            }
            EndReason::DependencyFailed(None) => {
                f.write_str("canceled: a job it waited for failed")
            }
            EndReason::MachineEnded(what) => write!(f, "lost: {what}"),
            EndReason::Signal(9) => {
                f.write_str("killed by signal 9 (SIGKILL: what the out-of-memory killer sends)")
            }
            EndReason::Signal(n) => match signal_name(*n) {
                Some(name) => write!(f, "killed by signal {n} ({name})"),
                None => write!(f, "killed by signal {n}"),
            },
        }
    }
}

/// The name of a common signal.
fn signal_name(n: i32) -> Option<&'static str> {
    Some(match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        10 => "SIGUSR1",
        11 => "SIGSEGV: an invalid memory access",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU: a CPU time limit",
        25 => "SIGXFSZ: a file size limit",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for word in JobStatus::WORDS.iter().filter(|w| **w != "unknown") {
            assert_eq!(JobStatus::from_word(word).unwrap().word(), *word);
        }
    }

    #[test]
    fn crimpl_killed_reads_as_canceled() {
        assert_eq!(JobStatus::from_word("killed\n"), Some(JobStatus::Canceled));
    }

    #[test]
    fn signal_deaths_say_which_signal() {
        assert_eq!(EndReason::from_exit_code(1), None);
        assert_eq!(EndReason::from_exit_code(137), Some(EndReason::Signal(9)));
        assert!(EndReason::Signal(9).to_string().contains("out-of-memory"));
        assert_eq!(
            EndReason::Signal(11).to_string(),
            "killed by signal 11 (SIGSEGV: an invalid memory access)"
        );
        assert_eq!(EndReason::from_exit_code(300), None);
    }

    #[test]
    fn display_carries_details() {
        assert_eq!(
            JobStatus::Failed(Some(3)).to_string(),
            "failed (exit code 3)"
        );
        assert_eq!(
            JobStatus::Pending(Some("Resources".into())).to_string(),
            "pending (Resources)"
        );
    }
}
