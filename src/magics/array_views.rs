//! How an array (a sweep) is shown: one line of counts by status with a
//! progress bar, the elapsed time and the tasks that failed, updated in
//! place like any job's status; and, on request, the table of its tasks.

use html_escape::encode_text;

use super::View;
use super::table::{file_row, human_size, table};
use crate::crimpl::array_files::TaskOutputs;
use crate::crimpl::layout::TASK_DIR_PREFIX;
use crate::crimpl::{JobRecord, JobStatus};

/// How many failed tasks a summary names.
const FAILED_SHOWN: usize = 10;
/// Characters of the text progress bar.
const BAR_WIDTH: usize = 30;

/// Counts of an array's tasks by status word, most advanced first, e.g.
/// `30 complete, 5 failed, 3 running, 62 pending`.
pub fn counts(record: &JobRecord) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for word in JobStatus::WORDS {
        let n = record
            .tasks
            .iter()
            .filter(|t| t.status.word() == word)
            .count();
        if n > 0 {
            counts.push((word, n));
        }
    }
    let order = |w: &str| match w {
        "complete" => 0,
        "failed" => 1,
        "canceled" => 2,
        "lost" => 3,
        "running" => 4,
        _ => 5,
    };
    counts.sort_by_key(|(word, _)| order(word));
    counts
        .iter()
        .map(|(word, n)| format!("{n} {word}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary under an array's status row: progress, counts, elapsed
/// time, and the first failed tasks with their exit codes.
pub fn summary(record: &JobRecord) -> View {
    let total = record.tasks.len();
    let ended = record.tasks.iter().filter(|t| t.status.is_final()).count();
    let counts = counts(record);
    let elapsed = elapsed(record)
        .map(|e| format!(" · {e}"))
        .unwrap_or_default();
    let filled = BAR_WIDTH * ended / total.max(1);
    let mut text = format!(
        "[{}{}] {ended}/{total} tasks ended: {counts}{elapsed}\n",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled)
    );
    let mut html = format!(
        "<p><progress value=\"{ended}\" max=\"{total}\" style=\"width:20em\"></progress> \
         {ended}/{total} tasks ended: {}{}</p>",
        encode_text(&counts),
        encode_text(&elapsed)
    );
    if record.tasks.iter().any(|t| t.status.is_error()) {
        let failed = not_complete(record, FAILED_SHOWN);
        text.push_str(&format!("not complete: {failed}\n"));
        html.push_str(&format!("<p>not complete: {}</p>", encode_text(&failed)));
    }
    View { html, text }
}

/// The first `shown` tasks that ended badly, with how (`task-0004: failed
/// (exit code 3); ...`), and how many more there are.
pub fn not_complete(record: &JobRecord, shown: usize) -> String {
    let failed: Vec<&JobRecord> = record
        .tasks
        .iter()
        .filter(|t| t.status.is_error())
        .collect();
    let mut lines: Vec<String> = failed
        .iter()
        .take(shown)
        .map(|t| format!("{}: {}", t.name, t.shown()))
        .collect();
    if failed.len() > shown {
        lines.push(format!(
            "... and {} more (%crimpl status {} --tasks)",
            failed.len() - shown,
            record.name
        ));
    }
    lines.join("; ")
}

/// Every task of an array with its status and times.
pub fn tasks(job: &str, record: &JobRecord) -> View {
    let rows: Vec<Vec<String>> = record
        .tasks
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.shown(),
                t.started.clone().unwrap_or_default(),
                t.ended.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &format!("Tasks of array {job} ({})", counts(record)),
        &["task", "status", "started", "ended"],
        &rows,
    )
}

/// An array's files: its own (the task directories as one row), then
/// each output path of its tasks with how many tasks wrote it, then the
/// tasks that wrote nothing.
pub fn files(job: &str, outputs: &TaskOutputs) -> View {
    let mut rows: Vec<Vec<String>> = outputs.own.iter().map(file_row).collect();
    rows.push(vec![
        format!("{TASK_DIR_PREFIX}*/"),
        String::new(),
        format!("{} task directories", outputs.tasks),
    ]);
    let own = table(
        &format!("Files of array {job}"),
        &["file", "size", "role"],
        &rows,
    );
    let mut rows: Vec<Vec<String>> = outputs
        .paths
        .iter()
        .map(|(path, (tasks, bytes))| {
            vec![
                path.clone(),
                format!("{tasks} of {}", outputs.tasks),
                human_size(*bytes),
            ]
        })
        .collect();
    let (files, bytes) = outputs.other_files;
    if files > 0 {
        rows.push(vec![
            format!("... {files} more files under other paths"),
            String::new(),
            human_size(bytes),
        ]);
    }
    let silent = &outputs.without_outputs;
    if !silent.is_empty() {
        let named: Vec<&str> = silent.iter().take(10).map(String::as_str).collect();
        let more = silent.len().saturating_sub(named.len());
        rows.push(vec![
            format!(
                "(no output) {}{}",
                named.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
            format!("{} of {}", silent.len(), outputs.tasks),
            String::new(),
        ]);
    }
    let written = table(
        "Outputs of its tasks (fetch: a folder per task; --merge: one folder)",
        &["path in a task", "tasks", "size in all"],
        &rows,
    );
    View {
        html: format!("{}{}", own.html, written.html),
        text: format!("{}\n{}", own.text, written.text),
    }
}

/// Time since the array started, to its end or now (`12m 05s`).
fn elapsed(record: &JobRecord) -> Option<String> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let started = parse(record.started.as_deref()?)?;
    let until = match (
        record.status.is_final(),
        record.ended.as_deref().and_then(parse),
    ) {
        (true, Some(ended)) => ended.with_timezone(&chrono::Utc),
        _ => chrono::Utc::now(),
    };
    let seconds = (until - started.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    Some(match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, seconds % 3600 / 60),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(statuses: &[JobStatus]) -> JobRecord {
        let mut record = JobRecord::new("sweep", JobStatus::Running);
        record.tasks = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| JobRecord::new(&format!("task-{:04}", i + 1), s.clone()))
            .collect();
        record
    }

    #[test]
    fn a_summary_counts_shows_progress_and_names_the_failed() {
        let record = array(&[
            JobStatus::Complete,
            JobStatus::Failed(Some(3)),
            JobStatus::Running,
            JobStatus::Pending(None),
        ]);
        let view = summary(&record);
        assert!(
            view.text.starts_with("[###############...............] 2/4 tasks ended: 1 complete, 1 failed, 1 running, 1 pending"),
            "{}",
            view.text
        );
        assert!(
            view.text.contains("task-0002: failed (exit code 3)"),
            "{}",
            view.text
        );
        assert!(
            view.html.contains("<progress value=\"2\" max=\"4\""),
            "{}",
            view.html
        );
    }

    #[test]
    fn many_failures_are_cut_short() {
        let record = array(&vec![JobStatus::Failed(Some(1)); 25]);
        let text = summary(&record).text;
        assert!(
            text.contains("... and 15 more (%crimpl status sweep --tasks)"),
            "{text}"
        );
    }
}
