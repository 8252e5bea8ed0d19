//! Job ends on a job instance: the end recorded in the volume's tags before
//! the instance is terminated, and read back when no instance runs.

use super::{AwsServer, Instance, tags};

impl AwsServer {
    /// `holder`'s job was seen to end with `status`: unless the instance is
    /// to be kept, record the end on the volume's tags (for status queries
    /// while no instance runs) and terminate the instance through the API
    /// (its own shutdown may not have happened or worked). Returns whether
    /// it was terminated.
    pub fn end_job(&self, holder: &Instance, status: &str) -> anyhow::Result<bool> {
        let Some(job) = holder.ends_with() else {
            return Ok(false);
        };
        self.record_end(job, status)?;
        self.terminate_instance(&holder.id)?;
        Ok(true)
    }

    /// Record on the volume's tags that `job` ended with `status`, keeping
    /// only the latest [`tags::MAX_JOB_STATUSES`] ends (the oldest are removed).
    pub(super) fn record_end(&self, job: &str, status: &str) -> anyhow::Result<()> {
        let key = format!("{}{job}", tags::JOB_STATUS_PREFIX);
        let mut recorded: Vec<(String, String)> = self
            .volume()?
            .tags
            .into_iter()
            .filter(|(k, _)| k.starts_with(tags::JOB_STATUS_PREFIX) && *k != key)
            .collect();
        if recorded.len() >= tags::MAX_JOB_STATUSES {
            // Oldest first: by the time after the status (ends recorded
            // without one, by earlier versions, are the oldest).
            recorded.sort_by(|a, b| ended_at(&a.1).cmp(ended_at(&b.1)));
            let excess = recorded.len() + 1 - tags::MAX_JOB_STATUSES;
            let old: Vec<String> = recorded.into_iter().take(excess).map(|(k, _)| k).collect();
            self.ec2.untag(&self.config.volume_id, &old)?;
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        self.ec2
            .tag(&self.config.volume_id, &[(key, format!("{status} {now}"))])
    }

    /// How jobs ended, as recorded on the volume's tags (for when no instance
    /// holds it): the latest [`tags::MAX_JOB_STATUSES`] ends a kernel saw.
    pub fn recorded_statuses(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .volume()?
            .tags
            .into_iter()
            .filter_map(|(k, v)| {
                let status = v.split_whitespace().next().unwrap_or_default().to_string();
                k.strip_prefix(tags::JOB_STATUS_PREFIX)
                    .map(|job| (job.to_string(), status))
            })
            .collect())
    }
}

/// The time in a recorded end (`STATUS TIME`), empty if it has none.
fn ended_at(value: &str) -> &str {
    value.split_once(' ').map_or("", |(_, time)| time)
}
