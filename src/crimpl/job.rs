//! What the engine knows of one job: its status record, its files, and how a
//! survey record from the server becomes a [`JobStatus`].

use std::io::BufRead;

use super::layout;
use super::status::{EndReason, JobStatus};

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
    /// Why it ended, when its scheduler says more than the status does.
    pub reason: Option<EndReason>,
    /// Which run of the script under one submission this is (a scheduler
    /// that requeues a job runs it again from the start): 1, 2, ...
    pub attempt: Option<u32>,
    /// An array's tasks, named by their directories (`task-0007`), in
    /// order; empty for a single job.
    pub tasks: Vec<JobRecord>,
}

impl JobRecord {
    /// A record of `status` with nothing else known yet.
    pub fn new(name: &str, status: JobStatus) -> Self {
        Self {
            name: name.into(),
            status,
            started: None,
            ended: None,
            slurm_id: None,
            reason: None,
            attempt: None,
            tasks: Vec::new(),
        }
    }

    /// The status as users read it: the end reason where there is one
    /// (`timeout`, `canceled (by alice)`), else the status, followed by the
    /// attempt once a job has run more than once (`running (attempt 2)`).
    pub fn shown(&self) -> String {
        let status = match (&self.reason, &self.status) {
            (Some(reason), JobStatus::Failed(Some(code))) if *code != 0 => {
                format!("{reason} (exit code {code})")
            }
            (Some(reason), _) => reason.to_string(),
            (None, status) => status.to_string(),
        };
        match self.attempt {
            Some(attempt) if attempt > 1 => format!("{status} (attempt {attempt})"),
            _ => status,
        }
    }
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
    /// The attempt counter the wrapper keeps.
    pub attempt: String,
    /// The Slurm cluster the job was submitted to (`sbatch -M`), if named.
    pub cluster: String,
    /// What crimpl learnt of the job's end from Slurm, as saved in its
    /// directory (`SOURCE TEXT`, see `slurm::queue::from_evidence`).
    pub evidence: String,
    /// Whether it is an array job (its tasks follow, named `name/task-0007`).
    pub array: bool,
    /// The job whose failure ended this one before it ran (`--after`).
    pub failed_dependency: String,
}

impl SurveyLine {
    /// Parse one tab-separated survey line; `None` for a line that is not one.
    pub fn parse(line: &str) -> Option<SurveyLine> {
        let fields: Vec<&str> = line.split('\t').collect();
        let name_ok = match fields[0].split_once('/') {
            Some((job, task)) => {
                layout::validate_job_name(job).is_ok() && layout::is_task_dir(task)
            }
            None => layout::validate_job_name(fields[0]).is_ok(),
        };
        if fields.len() != 13 || !name_ok {
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
            attempt: fields[8].trim().into(),
            cluster: fields[9].trim().into(),
            evidence: fields[10].trim().into(),
            array: fields[11].trim() == "1",
            failed_dependency: fields[12].trim().into(),
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
            reason: None,
            attempt: self.attempt.parse().ok(),
            tasks: Vec::new(),
        }
    }
}

/// What `kill` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillOutcome {
    /// The job's processes were signalled; it ends `canceled`.
    Signalled,
    /// The job had already ended with this status: nothing was signalled.
    AlreadyEnded(String),
    /// The job's process is gone (its pid is free or belongs to another
    /// process now): nothing was signalled.
    Gone,
    /// The job runs on another host (named), where it must be killed.
    Elsewhere(String),
}

impl KillOutcome {
    /// Read the one line the kill command prints (see
    /// [`super::scripts::kill_detached`]); a command that prints nothing
    /// (Slurm's `scancel`) signalled the job.
    pub fn parse(said: &str) -> Self {
        let line = said.lines().last().unwrap_or_default().trim();
        match line.split_once(' ') {
            Some(("ended", status)) => Self::AlreadyEnded(status.to_string()),
            Some(("elsewhere", host)) => Self::Elsewhere(host.to_string()),
            _ if line == "gone" => Self::Gone,
            _ => Self::Signalled,
        }
    }

    /// Why nothing was signalled, for the user; `None` when the job was.
    pub fn nothing_signalled(&self, job: &str) -> Option<String> {
        match self {
            Self::Signalled => None,
            Self::AlreadyEnded(status) => Some(format!(
                "job {job} had already ended ({status}): no signal was sent"
            )),
            Self::Gone => Some(format!(
                "job {job}'s process is gone (its process id is free or now belongs to another \
                 process): no signal was sent"
            )),
            Self::Elsewhere(host) => Some(format!(
                "job {job} runs on host {host}, which this server's commands do not reach: \
                 no signal was sent; kill it there"
            )),
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

/// A job directory's listing: the first entries in full, totals for all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// The first entries (at most the limit asked for), sorted by path.
    pub files: Vec<JobFile>,
    /// How many entries there are in all.
    pub total: usize,
    /// Entries and bytes of files, per role: input, output, crimpl.
    pub by_role: [(usize, u64); 3],
}

impl Listing {
    /// Whether entries were left out of `files`.
    pub fn is_truncated(&self) -> bool {
        self.total > self.files.len()
    }

    fn count(&mut self, file: &JobFile) {
        let slot = &mut self.by_role[file.role as usize];
        slot.0 += 1;
        slot.1 += file.size;
    }
}

/// Read the output of [`super::scripts::list_files`] as it arrives, keeping
/// the first `limit` entries (all with `None`) and counting the rest, so a
/// directory of a million files needs bounded memory.
pub fn read_listing(reader: impl BufRead, limit: Option<usize>) -> std::io::Result<Listing> {
    let mut listing = Listing::default();
    for_each_entry(reader, |file| {
        listing.total += 1;
        listing.count(&file);
        if limit.is_none_or(|limit| listing.files.len() < limit) {
            listing.files.push(file);
        }
    })?;
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

/// Hand each entry of [`super::scripts::list_files`]'s output to `seen`,
/// classified, as it arrives.
pub fn for_each_entry(reader: impl BufRead, mut seen: impl FnMut(JobFile)) -> std::io::Result<()> {
    let mut records = reader.split(0);
    let mut inputs = Vec::new();
    for record in records.by_ref() {
        let record = record?;
        let text = String::from_utf8_lossy(&record);
        match text.split_at_checked(1) {
            Some(("=", name)) => inputs.extend(layout::input_names(name, true)),
            Some(("~", line)) => inputs.extend(layout::input_names(line, false)),
            _ => break, // the empty record that ends the input list
        }
    }
    for record in records {
        if let Some(file) = parse_entry(&record?, &inputs) {
            seen(file);
        }
    }
    Ok(())
}

/// One `type<TAB>size<TAB>path` record, classified by its top-level name
/// (and, inside an array's task directory, by its own).
fn parse_entry(record: &[u8], inputs: &[String]) -> Option<JobFile> {
    let text = String::from_utf8_lossy(record);
    let mut parts = text.splitn(3, '\t');
    let kind = parts.next()?;
    let size = parts.next()?.parse().ok()?;
    let path = parts.next()?.to_string();
    if path.is_empty() {
        return None;
    }
    let mut parts = path.split('/');
    let top = parts.next().unwrap_or_default();
    let role = match parts.next() {
        // In an array's task directory: crimpl's files, and links to the
        // array's script and inputs.
        Some(name) if layout::is_task_dir(top) && layout::is_own_file(name) => FileRole::Crimpl,
        Some(_) if layout::is_task_dir(top) && kind == "l" => FileRole::Input,
        _ if layout::is_own_file(top) => FileRole::Crimpl,
        _ if inputs.iter().any(|i| i == top) => FileRole::Input,
        _ => FileRole::Output,
    };
    Some(JobFile {
        is_dir: kind == "d",
        size: if kind == "d" { 0 } else { size },
        path,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str, exit: &str, alive: &str, canceled: &str) -> SurveyLine {
        SurveyLine::parse(&format!(
            "j\t{status}\t{exit}\t{alive}\t{canceled}\t\t\t\t\t\t\t0\t"
        ))
        .unwrap()
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
    fn kill_outcomes_are_read_from_the_last_line() {
        assert_eq!(KillOutcome::parse("signalled\n"), KillOutcome::Signalled);
        assert_eq!(KillOutcome::parse(""), KillOutcome::Signalled);
        assert_eq!(
            KillOutcome::parse("ended complete\n"),
            KillOutcome::AlreadyEnded("complete".into())
        );
        assert_eq!(KillOutcome::parse("gone\n"), KillOutcome::Gone);
        assert_eq!(
            KillOutcome::parse("elsewhere node7\n"),
            KillOutcome::Elsewhere("node7".into())
        );
        assert!(KillOutcome::Gone.nothing_signalled("a").is_some());
        assert!(KillOutcome::Signalled.nothing_signalled("a").is_none());
    }

    #[test]
    fn malformed_survey_lines_are_skipped() {
        assert!(SurveyLine::parse("not a record").is_none());
        assert!(SurveyLine::parse("a b\ts\t\t-\t0\t\t\t\t\t\t\t0\t").is_none());
        assert!(SurveyLine::parse("a/task-x\ts\t\t-\t0\t\t\t\t\t\t\t0\t").is_none());
        let task = SurveyLine::parse("a/task-0007\trunning\t\t1\t0\t\t\t\t\t\t\t0\t").unwrap();
        assert_eq!(task.name, "a/task-0007");
    }

    #[test]
    fn listing_marks_inputs_outputs_and_crimpl_files() {
        let listing: &[u8] = b"=in.txt\0~a.py b.py\0\0f\t10\tcrimpl-job.status\0f\t3\tin.txt\0\
            f\t4\ta.py\0d\t4096\tresults\0f\t5\tresults/a.dat\0";
        let listing = read_listing(listing, None).unwrap();
        let roles: Vec<(&str, FileRole)> = listing
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.role))
            .collect();
        assert_eq!(
            roles,
            vec![
                ("a.py", FileRole::Input),
                ("crimpl-job.status", FileRole::Crimpl),
                ("in.txt", FileRole::Input),
                ("results", FileRole::Output),
                ("results/a.dat", FileRole::Output),
            ]
        );
        assert_eq!(listing.by_role[FileRole::Output as usize], (2, 5));
    }

    #[test]
    fn a_long_listing_keeps_the_first_rows_and_counts_all() {
        let mut listing = b"\0".to_vec();
        for i in 0..10_000 {
            listing.extend(format!("f\t2\tout-{i:05}\0").as_bytes());
        }
        let listing = read_listing(&listing[..], Some(100)).unwrap();
        assert_eq!(listing.files.len(), 100);
        assert_eq!(listing.total, 10_000);
        assert!(listing.is_truncated());
        assert_eq!(listing.by_role[FileRole::Output as usize], (10_000, 20_000));
    }
}
