//! What the engine knows of one job: its status record, its files, and how a
//! survey record from the server becomes a [`JobStatus`].

use super::layout;
use super::status::JobStatus;

/// One job as read from its directory on the server.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// The job's name (its directory is `crimpl-job-<name>`).
    pub name: String,
    /// Its status now.
    pub status: JobStatus,
    /// UTC start time, if it started.
    pub started: Option<String>,
    /// UTC end time, if it ended.
    pub ended: Option<String>,
    /// The Slurm job id, on Slurm servers.
    pub slurm_id: Option<String>,
}

/// The raw fields of one survey line (see [`super::scripts::survey`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SurveyLine {
    /// Job name.
    pub name: String,
    /// Text of the status file.
    pub status: String,
    /// Text of the exit-code file.
    pub exit_code: String,
    /// Whether the recorded process is alive (`None`: no process recorded).
    pub alive: Option<bool>,
    /// Whether `kill` marked it canceled.
    pub canceled: bool,
    /// Start time.
    pub started: String,
    /// End time.
    pub ended: String,
    /// Slurm job id.
    pub slurm_id: String,
}

impl SurveyLine {
    /// Parse one tab-separated survey line; `None` for a line that is not one.
    pub fn parse(line: &str) -> Option<SurveyLine> {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 8 || layout::validate_job_name(fields[0]).is_err() {
            return None;
        }
        Some(SurveyLine {
            name: fields[0].into(),
            status: fields[1].trim().into(),
            exit_code: fields[2].trim().into(),
            alive: match fields[3] {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            },
            canceled: fields[4] == "1",
            started: fields[5].into(),
            ended: fields[6].into(),
            slurm_id: fields[7].trim().into(),
        })
    }

    /// The status of a job run detached by the wrapper (or by crimpl 0.2.0's nohup).
    pub fn detached_status(&self) -> JobStatus {
        let exit = self.exit_code.parse::<i32>().ok();
        match JobStatus::from_word(&self.status) {
            None if self.status.is_empty() => JobStatus::NotSubmitted,
            None => JobStatus::Unknown(format!("unrecognised status {:?}", self.status)),
            Some(JobStatus::Failed(_)) => JobStatus::Failed(exit),
            Some(state @ (JobStatus::Running | JobStatus::Starting)) => {
                if self.canceled && self.alive != Some(true) {
                    JobStatus::Canceled
                } else if self.alive == Some(false) {
                    // The process is gone without writing its end, unless it just did.
                    match exit {
                        Some(0) => JobStatus::Complete,
                        Some(code) => JobStatus::Failed(Some(code)),
                        None => JobStatus::Lost,
                    }
                } else {
                    state
                }
            }
            Some(other) => other,
        }
    }

    /// A record with `status`.
    pub fn into_record(self, status: JobStatus) -> JobRecord {
        let some = |s: String| (!s.is_empty()).then_some(s);
        JobRecord {
            name: self.name,
            status,
            started: some(self.started),
            ended: some(self.ended),
            slurm_id: some(self.slurm_id),
        }
    }
}

/// Whose a file in a job directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// Sent with the script.
    Input,
    /// Made by the job: what `fetch` takes by default.
    Output,
    /// crimpl's own bookkeeping.
    Crimpl,
}

impl FileRole {
    /// The role's name for listings.
    pub fn word(self) -> &'static str {
        match self {
            FileRole::Input => "input",
            FileRole::Output => "output",
            FileRole::Crimpl => "crimpl",
        }
    }
}

/// One entry of a job directory.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFile {
    /// Path relative to the job directory.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes (files).
    pub size: u64,
    /// Input, output or crimpl's.
    pub role: FileRole,
}

/// Parse `find -printf '%y\t%s\t%P\0'` output and classify entries by their top-level name.
pub fn parse_listing(listing: &[u8], input_list: &str) -> Vec<JobFile> {
    let entries: Vec<(String, bool, u64)> = listing
        .split(|b| *b == 0)
        .filter_map(|record| {
            let text = String::from_utf8_lossy(record);
            let mut parts = text.splitn(3, '\t');
            let kind = parts.next()?;
            let size = parts.next()?.parse().ok()?;
            let path = parts.next()?.to_string();
            (!path.is_empty()).then_some((path, kind == "d", size))
        })
        .collect();
    let top_level: Vec<String> = entries
        .iter()
        .filter(|(path, _, _)| !path.contains('/'))
        .map(|(path, _, _)| path.clone())
        .collect();
    let inputs = layout::parse_input_list(input_list, &top_level);
    let mut files: Vec<JobFile> = entries
        .into_iter()
        .map(|(path, is_dir, size)| {
            let top = path.split('/').next().unwrap_or_default();
            let role = if layout::is_own_file(top) {
                FileRole::Crimpl
            } else if inputs.iter().any(|i| i == top) {
                FileRole::Input
            } else {
                FileRole::Output
            };
            JobFile {
                path,
                is_dir,
                size,
                role,
            }
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str, exit: &str, alive: &str, canceled: &str) -> SurveyLine {
        SurveyLine::parse(&format!("j\t{status}\t{exit}\t{alive}\t{canceled}\t\t\t")).unwrap()
    }

    #[test]
    fn statuses_from_survey_lines() {
        assert_eq!(
            line("complete", "0", "0", "0").detached_status(),
            JobStatus::Complete
        );
        assert_eq!(
            line("failed", "3", "0", "0").detached_status(),
            JobStatus::Failed(Some(3))
        );
        assert_eq!(
            line("running", "", "1", "0").detached_status(),
            JobStatus::Running
        );
        assert_eq!(
            line("running", "", "0", "0").detached_status(),
            JobStatus::Lost
        );
        assert_eq!(
            line("running", "", "0", "1").detached_status(),
            JobStatus::Canceled
        );
        assert_eq!(
            line("killed", "", "-", "0").detached_status(),
            JobStatus::Canceled
        );
        assert_eq!(
            line("", "", "-", "0").detached_status(),
            JobStatus::NotSubmitted
        );
        assert_eq!(
            line("starting", "", "-", "0").detached_status(),
            JobStatus::Starting
        );
    }

    #[test]
    fn malformed_survey_lines_are_skipped() {
        assert!(SurveyLine::parse("not a record").is_none());
        assert!(SurveyLine::parse("a b\ts\t\t-\t0\t\t\t").is_none());
    }

    #[test]
    fn listing_marks_inputs_outputs_and_crimpl_files() {
        let listing =
            b"f\t10\tcrimpl-job.status\0f\t3\tin.txt\0d\t0\tresults\0f\t5\tresults/a.dat\0";
        let files = parse_listing(listing, "in.txt\n");
        let roles: Vec<(&str, FileRole)> =
            files.iter().map(|f| (f.path.as_str(), f.role)).collect();
        assert_eq!(
            roles,
            vec![
                ("crimpl-job.status", FileRole::Crimpl),
                ("in.txt", FileRole::Input),
                ("results", FileRole::Output),
                ("results/a.dat", FileRole::Output),
            ]
        );
    }
}
