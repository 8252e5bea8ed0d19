//! Sweeps: the tasks of an array job, from a range, a list, or a parameter
//! file, and the files that give each task its identity on the server.
//!
//! Every task runs in its own directory inside the array's job directory
//! (`task-0007/`), gets `CRIMPL_TASK_ID`, `CRIMPL_TASK_COUNT` and its
//! parameters as environment variables, and is recorded like a single job.

use std::path::Path;

use anyhow::{Context, bail};

use super::job::JobRecord;
use super::layout::TASK_DIR_PREFIX;
use super::scripts::quote;
use super::status::JobStatus;

/// The most tasks one array may have (Slurm's own default limit is 1000).
pub const MAX_TASKS: usize = 100_000;
/// The greatest task id.
pub const MAX_TASK_ID: u64 = 9_999_999;

/// One task: its id and the environment variables it gets besides
/// `CRIMPL_TASK_ID` and `CRIMPL_TASK_COUNT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task's id (Slurm's `SLURM_ARRAY_TASK_ID`).
    pub id: u64,
    /// Parameters, as (variable, value).
    pub params: Vec<(String, String)>,
}

/// The tasks of an array job and how many may run at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArraySpec {
    /// The tasks, in the order they start; ids are unique.
    pub tasks: Vec<Task>,
    /// At most this many run at once (default: the host's CPU count, or
    /// Slurm's scheduling).
    pub max_parallel: Option<u32>,
}

impl ArraySpec {
    /// Tasks from a spec such as `1-100`, `0-99:3` or `1,5,9-12`.
    pub fn from_spec(spec: &str, max_parallel: Option<u32>) -> anyhow::Result<Self> {
        let mut ids = Vec::new();
        for part in spec.split(',').map(str::trim) {
            let (range, step) = match part.split_once(':') {
                Some((range, step)) => (range, parse_number(step, "step")?),
                None => (part, 1),
            };
            if step == 0 {
                bail!("array step 0 in {part:?}: a step is 1 or more");
            }
            let (first, last) = match range.split_once('-') {
                Some((first, last)) => (
                    parse_number(first, "task id")?,
                    parse_number(last, "task id")?,
                ),
                None if step == 1 => {
                    let id = parse_number(range, "task id")?;
                    (id, id)
                }
                None => bail!("{part:?}: a step applies to a range such as 1-100:{step}"),
            };
            if first > last {
                bail!("array range {range:?} runs backwards: write it as {last}-{first}");
            }
            let count = (last - first) / step + 1;
            if ids.len() as u64 + count > MAX_TASKS as u64 {
                bail!("an array has at most {MAX_TASKS} tasks: split the sweep");
            }
            ids.extend((first..=last).step_by(step as usize));
        }
        Self::new(
            ids.into_iter()
                .map(|id| Task {
                    id,
                    params: Vec::new(),
                })
                .collect(),
            max_parallel,
        )
    }

    /// Tasks from a parameter file, one per row: CSV with a header row, or
    /// JSON lines (`.jsonl`, `.ndjson`, or a file whose first character is
    /// `{`) of flat objects. Task ids are the row numbers, from 1; the
    /// columns become environment variables.
    pub fn from_params(path: &Path, max_parallel: Option<u32>) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the parameter file {}", path.display()))?;
        let json = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        ) || text.trim_start().starts_with('{');
        let rows = if json {
            json_rows(&text)
        } else {
            csv_rows(&text)
        }
        .with_context(|| format!("in {}", path.display()))?;
        if rows.is_empty() {
            bail!(
                "{} has no rows: a parameter file has one task per row",
                path.display()
            );
        }
        if rows.len() > MAX_TASKS {
            bail!(
                "an array has at most {MAX_TASKS} tasks: {} has {}",
                path.display(),
                rows.len()
            );
        }
        let tasks = rows
            .into_iter()
            .enumerate()
            .map(|(row, params)| Task {
                id: row as u64 + 1,
                params,
            })
            .collect();
        Self::new(tasks, max_parallel)
    }

    fn new(tasks: Vec<Task>, max_parallel: Option<u32>) -> anyhow::Result<Self> {
        if tasks.is_empty() {
            bail!("an array needs at least one task");
        }
        let mut ids: Vec<u64> = tasks.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
            bail!("task {} is listed twice", pair[0]);
        }
        if max_parallel == Some(0) {
            bail!("--max-parallel 0 would run nothing: give 1 or more");
        }
        Ok(Self {
            tasks,
            max_parallel,
        })
    }

    /// Digits in a task directory's number: at least 4, so they sort.
    pub fn width(&self) -> usize {
        let largest = self.tasks.iter().map(|t| t.id).max().unwrap_or(0);
        largest.to_string().len().max(4)
    }

    /// The directory of task `id` (`task-0007`).
    pub fn task_dir(&self, id: u64) -> String {
        format!("{TASK_DIR_PREFIX}{id:0width$}", width = self.width())
    }

    /// The task's environment file: its id, the task count, its parameters.
    pub fn env_file(&self, task: &Task) -> anyhow::Result<String> {
        let mut text = format!(
            "export CRIMPL_TASK_ID={}\nexport CRIMPL_TASK_COUNT={}\n",
            task.id,
            self.tasks.len()
        );
        for (name, value) in &task.params {
            text.push_str(&format!("export {name}={}\n", quote(value)?));
        }
        Ok(text)
    }

    /// The ids as Slurm's `--array` wants them (`1-100,200`), with `%N`
    /// for the parallel limit.
    pub fn slurm_spec(&self) -> String {
        let mut ids: Vec<u64> = self.tasks.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        let mut parts: Vec<String> = Vec::new();
        let mut start = 0;
        while start < ids.len() {
            let mut end = start;
            while end + 1 < ids.len() && ids[end + 1] == ids[end] + 1 {
                end += 1;
            }
            parts.push(match end - start {
                0 => ids[start].to_string(),
                _ => format!("{}-{}", ids[start], ids[end]),
            });
            start = end + 1;
        }
        let mut spec = parts.join(",");
        if let Some(n) = self.max_parallel {
            spec.push_str(&format!("%{n}"));
        }
        spec
    }
}

/// Put each task's record (`job/task-0007`) under its array's record (as
/// `task-0007`), the array's status then told by its tasks.
pub fn nest_tasks(records: Vec<JobRecord>) -> Vec<JobRecord> {
    let mut jobs: Vec<JobRecord> = Vec::new();
    for mut record in records {
        match record.name.split_once('/') {
            Some((job, task)) => {
                let task = task.to_string();
                if let Some(array) = jobs.iter_mut().rev().find(|j| j.name == job) {
                    record.name = task;
                    array.tasks.push(record);
                }
            }
            None => jobs.push(record),
        }
    }
    for job in jobs.iter_mut().filter(|j| !j.tasks.is_empty()) {
        job.tasks.sort_by(|a, b| a.name.cmp(&b.name));
        job.status = array_status(&job.status, &job.tasks);
        job.reason = None;
    }
    jobs
}

/// An array's status from its tasks' and its own (the runner's, on a
/// detached scheduler): running while any task (or the runner) runs;
/// failed, lost, canceled or complete once all have ended, in that order
/// of precedence.
fn array_status(own: &JobStatus, tasks: &[JobRecord]) -> JobStatus {
    let any = |f: &dyn Fn(&JobStatus) -> bool| tasks.iter().any(|t| f(&t.status));
    if any(&|s| {
        matches!(
            s,
            JobStatus::Running
                | JobStatus::Starting
                | JobStatus::Requeued(_)
                | JobStatus::Interrupted
        )
    }) {
        return JobStatus::Running;
    }
    if any(&|s| matches!(s, JobStatus::Pending(_) | JobStatus::NotSubmitted)) {
        return match own {
            // The runner is gone, or was stopped: the waiting tasks never start.
            JobStatus::Lost | JobStatus::Canceled => own.clone(),
            JobStatus::Running | JobStatus::Starting => own.clone(),
            _ if any(&JobStatus::is_final) => JobStatus::Running,
            _ => JobStatus::Pending(None),
        };
    }
    if matches!(own, JobStatus::Running | JobStatus::Starting) {
        // Every task has ended, but the runner has not recorded the array's end yet.
        return JobStatus::Running;
    }
    if let Some(unknown) = tasks
        .iter()
        .find(|t| matches!(t.status, JobStatus::Unknown(_)))
    {
        return unknown.status.clone();
    }
    if any(&|s| matches!(s, JobStatus::Failed(_))) {
        JobStatus::Failed(None)
    } else if any(&|s| *s == JobStatus::Lost) {
        JobStatus::Lost
    } else if any(&|s| *s == JobStatus::Canceled) {
        JobStatus::Canceled
    } else {
        JobStatus::Complete
    }
}

fn parse_number(text: &str, what: &str) -> anyhow::Result<u64> {
    let number: u64 = text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{text:?} is not a {what}: arrays are written 1-100, 0-99:3 or 1,5,9")
    })?;
    if number > MAX_TASK_ID {
        bail!("task id {number} is too large (at most {MAX_TASK_ID})");
    }
    Ok(number)
}

/// Check a parameter's name: it becomes an environment variable.
fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        bail!(
            "parameter {name:?} cannot be an environment variable: use letters, digits and _ \
             (not first a digit)"
        );
    }
    if name.starts_with("CRIMPL_") {
        bail!("parameter {name:?}: names starting with CRIMPL_ are crimpl's own");
    }
    Ok(())
}

fn csv_rows(text: &str) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let names: Vec<String> = reader.headers()?.iter().map(String::from).collect();
    for name in &names {
        check_name(name)?;
    }
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("row {}", line + 1))?;
        rows.push(
            names
                .iter()
                .cloned()
                .zip(record.iter().map(String::from))
                .collect(),
        );
        if rows.len() > MAX_TASKS {
            break;
        }
    }
    Ok(rows)
}

fn json_rows(text: &str) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let mut rows = Vec::new();
    for (line, row) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(row)
            .with_context(|| format!("line {} is not a JSON object", line + 1))?;
        let mut params = Vec::new();
        for (name, value) in object {
            check_name(&name)?;
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    bail!(
                        "line {}: {name} is not a plain value (text, number or true/false)",
                        line + 1
                    )
                }
                other => other.to_string(),
            };
            params.push((name, value));
        }
        rows.push(params);
        if rows.len() > MAX_TASKS {
            break;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(spec: &str) -> Vec<u64> {
        ArraySpec::from_spec(spec, None)
            .unwrap()
            .tasks
            .iter()
            .map(|t| t.id)
            .collect()
    }

    #[test]
    fn specs_are_ranges_steps_and_lists() {
        assert_eq!(ids("1-5"), [1, 2, 3, 4, 5]);
        assert_eq!(ids("0-9:4"), [0, 4, 8]);
        assert_eq!(ids("3, 1,7-8"), [3, 1, 7, 8]);
        for bad in [
            "",
            "5-1",
            "1-10:0",
            "a-b",
            "1-",
            "4:2",
            "1,1",
            "-3",
            "1-99999999",
        ] {
            assert!(ArraySpec::from_spec(bad, None).is_err(), "{bad:?}");
        }
        assert!(
            ArraySpec::from_spec("0-100000", None).is_err(),
            "too many tasks"
        );
        assert!(ArraySpec::from_spec("1-3", Some(0)).is_err());
    }

    #[test]
    fn task_dirs_sort_and_slurm_gets_compact_ranges() {
        let spec = ArraySpec::from_spec("1-3,7,9-10", Some(2)).unwrap();
        assert_eq!(spec.task_dir(7), "task-0007");
        assert_eq!(spec.slurm_spec(), "1-3,7,9-10%2");
        let big = ArraySpec::from_spec("1,123456", None).unwrap();
        assert_eq!(big.task_dir(1), "task-000001");
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn parameter_files_give_each_row_a_task() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("p.csv");
        std::fs::write(&csv, "alpha, label\n0.5,\"a b\"\n1,it's\n").unwrap();
        let spec = ArraySpec::from_params(&csv, None).unwrap();
        assert_eq!(spec.tasks.len(), 2);
        assert_eq!(spec.tasks[1].id, 2);
        let env = spec.env_file(&spec.tasks[1]).unwrap();
        assert!(
            env.contains("export CRIMPL_TASK_ID=2\nexport CRIMPL_TASK_COUNT=2\n"),
            "{env}"
        );
        assert!(env.contains("export label=\"it's\""), "{env}");
        let hostile =
            ArraySpec::from_params(&write(&dir, "h.csv", "x\n$(touch pwned)`id`\n"), None).unwrap();
        let env = hostile.env_file(&hostile.tasks[0]).unwrap();
        assert!(env.ends_with("export x='$(touch pwned)`id`'\n"), "{env}");
        let jsonl = dir.path().join("p.jsonl");
        std::fs::write(&jsonl, "{\"n\": 3, \"ok\": true}\n\n{\"n\": \"x y\"}\n").unwrap();
        let spec = ArraySpec::from_params(&jsonl, None).unwrap();
        assert_eq!(
            spec.tasks[0].params,
            [("n".into(), "3".into()), ("ok".into(), "true".into())]
        );
        for (name, text) in [
            ("bad.csv", "1x,y\n1,2\n"),
            ("own.csv", "CRIMPL_TASK_ID\n1\n"),
            ("empty.csv", "a\n"),
            ("nested.jsonl", "{\"a\": [1]}\n"),
            ("short.csv", "a,b\n1\n"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert!(ArraySpec::from_params(&path, None).is_err(), "{name}");
        }
    }
}
