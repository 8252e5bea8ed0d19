//! A grace period before a scheduler's job reads `lost`: a job missing from
//! the queue with no recorded end may only be a moment away from its end
//! record (a shared filesystem's delay, a queue read between two states).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::status::JobStatus;

/// How long a job may be missing before it reads `lost`.
pub const LOST_GRACE: Duration = Duration::from_secs(90);

/// When each job was first seen missing, per server (in memory: a new
/// kernel waits the grace period again, which errs on the safe side).
#[derive(Debug, Default)]
pub struct LostGrace {
    missing_since: Mutex<HashMap<String, Instant>>,
}

impl LostGrace {
    /// `status` of `job`, except that `lost` reads `unknown` until the job
    /// has been missing for [`LOST_GRACE`].
    pub fn check(&self, job: &str, status: JobStatus) -> JobStatus {
        self.check_at(job, status, Instant::now())
    }

    fn check_at(&self, job: &str, status: JobStatus, now: Instant) -> JobStatus {
        let mut missing = self
            .missing_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if status != JobStatus::Lost {
            missing.remove(job);
            return status;
        }
        let since = *missing.entry(job.to_string()).or_insert(now);
        let waited = now.duration_since(since);
        if waited >= LOST_GRACE {
            return status;
        }
        JobStatus::Unknown(format!(
            "not in Slurm's queue and no end recorded; lost if still so in {} s",
            (LOST_GRACE - waited).as_secs().max(1)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_only_after_the_grace_period() {
        let grace = LostGrace::default();
        let start = Instant::now();
        assert!(matches!(
            grace.check_at("a", JobStatus::Lost, start),
            JobStatus::Unknown(_)
        ));
        assert_eq!(
            grace.check_at("a", JobStatus::Lost, start + LOST_GRACE),
            JobStatus::Lost
        );
        // Seen again, the clock starts over.
        assert_eq!(
            grace.check_at("a", JobStatus::Running, start + LOST_GRACE),
            JobStatus::Running
        );
        assert!(matches!(
            grace.check_at("a", JobStatus::Lost, start + LOST_GRACE * 2),
            JobStatus::Unknown(_)
        ));
    }
}
