//! Turning engine results into views: an HTML table for notebooks and an
//! aligned text table for consoles, from the same rows.

use html_escape::encode_text;

pub use super::table::{file_row, human_size, table};
use super::{View, array_views};
use crate::crimpl::{FetchReport, FileRole, JobRecord, Listing, Plan};

/// A short message, as a view.
pub fn message(text: &str) -> View {
    View {
        html: format!("<pre>{}</pre>", encode_text(text)),
        text: text.to_string(),
    }
}

/// The status table of some jobs on `server`.
pub fn jobs(server: &str, records: &[JobRecord]) -> View {
    let slurm = records.iter().any(|r| r.slurm_id.is_some());
    let mut headers = vec!["job", "status", "started", "ended"];
    if slurm {
        headers.push("slurm id");
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let status = match r.tasks.len() {
                0 => r.shown(),
                n => format!(
                    "{} ({}/{n} tasks ended)",
                    r.shown(),
                    r.tasks.iter().filter(|t| t.status.is_final()).count()
                ),
            };
            let mut row = vec![
                r.name.clone(),
                status,
                r.started.clone().unwrap_or_default(),
                r.ended.clone().unwrap_or_default(),
            ];
            if slurm {
                row.push(r.slurm_id.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    table(&format!("Jobs on {server}"), &headers, &rows)
}

/// The status table of some jobs, saying when it was read.
pub fn jobs_checked(server: &str, records: &[JobRecord]) -> View {
    let mut view = jobs(server, records);
    let note = format!("checked at {}", chrono::Utc::now().format("%H:%M:%S UTC"));
    view.html
        .push_str(&format!("<p><i>{}</i></p>", encode_text(&note)));
    view.text.push_str(&note);
    view.text.push('\n');
    view
}

/// One job's status, while it may still change (shown under a display id).
pub fn job_status(server: &str, record: &JobRecord, note: &str) -> View {
    let mut view = jobs(server, std::slice::from_ref(record));
    if !record.tasks.is_empty() {
        let summary = array_views::summary(record);
        view.html.push_str(&summary.html);
        view.text.push_str(&summary.text);
    }
    if !note.is_empty() {
        view.html
            .push_str(&format!("<p><i>{}</i></p>", encode_text(note)));
        view.text.push_str(note);
        view.text.push('\n');
    }
    view
}

/// Every task of the array `job`.
pub fn tasks(job: &str, record: &JobRecord) -> View {
    array_views::tasks(job, record)
}

/// A job's files.
pub fn files(job: &str, listing: &Listing) -> View {
    let mut rows: Vec<Vec<String>> = listing.files.iter().map(file_row).collect();
    let mut caption = format!("Files of job {job}");
    if listing.is_truncated() {
        let roles = [FileRole::Input, FileRole::Output, FileRole::Crimpl];
        let totals: Vec<String> = roles
            .iter()
            .map(|role| {
                let (entries, bytes) = listing.by_role[*role as usize];
                format!("{entries} {} ({})", role.word(), human_size(bytes))
            })
            .collect();
        caption = format!(
            "Files of job {job}: the first {} of {} entries ({})",
            listing.files.len(),
            listing.total,
            totals.join(", ")
        );
        rows.push(vec![
            format!("... {} more", listing.total - listing.files.len()),
            String::new(),
            "fetch takes them all; ls on the server lists them".into(),
        ]);
    }
    table(&caption, &["file", "size", "role"], &rows)
}

/// What came back from a fetch.
pub fn fetch_report(job: &str, target: &str, report: &FetchReport) -> View {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (path, size) in &report.written {
        rows.push(vec![
            path.display().to_string(),
            human_size(*size),
            "fetched".into(),
        ]);
    }
    for path in &report.unchanged {
        rows.push(vec![
            path.display().to_string(),
            String::new(),
            "unchanged (same content)".into(),
        ]);
    }
    for path in &report.kept {
        rows.push(vec![
            path.display().to_string(),
            String::new(),
            "kept yours (differs; --overwrite replaces it)".into(),
        ]);
    }
    for (path, reason) in &report.refused {
        rows.push(vec![
            path.clone(),
            String::new(),
            format!("refused: {reason}"),
        ]);
    }
    for (path, reason) in &report.failed {
        rows.push(vec![
            path.display().to_string(),
            String::new(),
            format!("FAILED, not written: {reason}"),
        ]);
    }
    for (path, reason) in &report.mismatched {
        rows.push(vec![
            path.display().to_string(),
            String::new(),
            format!("FAILED, differs from the job's manifest: {reason}"),
        ]);
    }
    if report.hidden_left_out > 0 {
        let examples: Vec<String> = report
            .hidden_examples
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let more = if report.hidden_left_out > examples.len() {
            ", ..."
        } else {
            ""
        };
        rows.push(vec![
            format!(
                "{} hidden ({}{more})",
                report.hidden_left_out,
                examples.join(", ")
            ),
            String::new(),
            "left out: name them, or fetch with --hidden".into(),
        ]);
    }
    let caption = if rows.is_empty() {
        format!("Job {job} has no output files to fetch")
    } else {
        format!("Fetched from job {job} into {target}")
    };
    table(&caption, &["file", "size", "result"], &rows)
}

/// What a trial run would do.
pub fn plan(what: &str, plan: &Plan) -> View {
    let mut text = format!(
        "Trial run of {what} on {} (nothing was sent):\n",
        plan.target
    );
    text.push_str("\nCommand:\n");
    for command in &plan.commands {
        text.push_str(&format!("  {command}\n"));
    }
    if !plan.uploads.is_empty() {
        text.push_str("\nFiles sent:\n");
        for (name, size) in &plan.uploads {
            text.push_str(&format!("  {name} ({})\n", human_size(*size)));
        }
    }
    for (name, script) in &plan.scripts {
        text.push_str(&format!("\n{name}:\n{script}"));
        if !script.ends_with('\n') {
            text.push('\n');
        }
    }
    message(&text)
}
