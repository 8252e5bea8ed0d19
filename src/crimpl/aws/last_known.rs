//! How each job of an AWS server last ended, as this machine saw it: a small
//! file per volume beside the server registry, written whenever an instance
//! showed the jobs, read when none runs. The volume's tags keep only the
//! latest ends (EC2 allows 50 tags) and the volume itself needs an instance
//! to be read; this record has no such bound, and says only what this
//! machine saw (the volume stays the truth).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::AwsServer;
use crate::crimpl::job::JobRecord;
use crate::crimpl::kept_log::KeptLogs;
use crate::crimpl::status::JobStatus;
use crate::private_files;

/// One job's last seen end (an array's with its tasks' ends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct End {
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tasks: Vec<(String, End)>,
}

impl End {
    fn of(record: &JobRecord) -> Self {
        Self {
            status: record.status.word().to_string(),
            started: record.started.clone(),
            ended: record.ended.clone(),
            exit_code: match record.status {
                JobStatus::Failed(code) => code,
                _ => None,
            },
            tasks: record
                .tasks
                .iter()
                .map(|task| (task.name.clone(), End::of(task)))
                .collect(),
        }
    }

    fn record(&self, name: &str) -> JobRecord {
        let status = match JobStatus::from_word(&self.status) {
            Some(JobStatus::Failed(_)) => JobStatus::Failed(self.exit_code),
            Some(status) => status,
            None => JobStatus::Unknown(self.status.clone()),
        };
        let mut record = JobRecord::new(name, status);
        record.started = self.started.clone();
        record.ended = self.ended.clone();
        record.tasks = self
            .tasks
            .iter()
            .map(|(task, end)| end.record(task))
            .collect();
        record
    }
}

/// The last known ends of one volume's jobs, on this machine.
pub struct LastKnown {
    path: PathBuf,
}

impl LastKnown {
    /// The record of volume `volume_id` in `records` (this machine's
    /// records, beside the server registry).
    pub fn of_volume(records: &Path, volume_id: &str) -> Self {
        Self {
            path: records
                .join("aws-job-ends")
                .join(format!("{volume_id}.json")),
        }
    }

    fn read(&self) -> BTreeMap<String, End> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Remember the ends among `records` (jobs still running are not recorded).
    pub fn remember(&self, records: &[JobRecord]) -> anyhow::Result<()> {
        let mut ends = self.read();
        let before = ends.len();
        let mut changed = false;
        for record in records.iter().filter(|r| r.status.is_final()) {
            let end = End::of(record);
            changed |= ends.insert(record.name.clone(), end.clone()) != Some(end);
        }
        if !changed && ends.len() == before {
            return Ok(());
        }
        // Written whole, private to the user.
        private_files::write(&self.path, &serde_json::to_vec_pretty(&ends)?)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// The remembered ends, as job records.
    pub fn records(&self) -> Vec<JobRecord> {
        self.read()
            .iter()
            .map(|(name, end)| end.record(name))
            .collect()
    }

    /// Forget every job (the volume is deleted).
    pub fn forget(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl AwsServer {
    /// How this server's jobs last ended, as this machine saw them.
    pub fn last_known(&self) -> anyhow::Result<LastKnown> {
        Ok(LastKnown::of_volume(
            self.records()?,
            &self.config.volume_id,
        ))
    }

    /// The logs this machine kept of this server's jobs, in a directory per
    /// volume among this machine's records.
    pub fn kept_logs(&self) -> anyhow::Result<KeptLogs> {
        Ok(KeptLogs::in_dir(
            self.records()?
                .join("kept-logs")
                .join(&self.config.volume_id),
        ))
    }

    /// Where this machine keeps its records of the server (as its caller
    /// said), or why there is no such place.
    fn records(&self) -> anyhow::Result<&Path> {
        self.records
            .as_deref()
            .map_err(|why| anyhow::anyhow!("{why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_kept_and_running_jobs_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let known = LastKnown {
            path: dir.path().join("ends").join("vol-1.json"),
        };
        let mut done = JobRecord::new("a", JobStatus::Complete);
        done.ended = Some("2026-11-26T01:00:00Z".into());
        let running = JobRecord::new("b", JobStatus::Running);
        known.remember(&[done.clone(), running]).unwrap();
        known
            .remember(&[JobRecord::new("c", JobStatus::Failed(Some(3)))])
            .unwrap();
        let records = known.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0], done);
        assert_eq!(records[1].status, JobStatus::Failed(Some(3)));
        let mut sweep = JobRecord::new("sweep", JobStatus::Failed(None));
        sweep.tasks = vec![
            JobRecord::new("task-0001", JobStatus::Complete),
            JobRecord::new("task-0002", JobStatus::Failed(Some(7))),
        ];
        known.remember(std::slice::from_ref(&sweep)).unwrap();
        assert_eq!(known.records()[2], sweep, "an array keeps its tasks' ends");
        known.forget();
        assert!(known.records().is_empty());
    }
}
