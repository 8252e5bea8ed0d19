//! Turning engine results into views: an HTML table for notebooks and an
//! aligned text table for consoles, from the same rows.

use html_escape::encode_text;

use super::View;
use crate::crimpl::{FetchReport, FileRole, JobRecord, JobStatus, Listing, Plan};

/// A table with a caption, rendered both ways.
pub fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> View {
    let mut html = format!(
        "<table class=\"crimpl\"><caption style=\"text-align:left\"><b>{}</b></caption><thead><tr>",
        encode_text(caption)
    );
    for header in headers {
        html.push_str(&format!(
            "<th style=\"text-align:left\">{}</th>",
            encode_text(header)
        ));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let content = if headers.get(i) == Some(&"status") {
                status_badge(cell)
            } else {
                encode_text(cell).into_owned()
            };
            html.push_str(&format!("<td style=\"text-align:left\">{content}</td>"));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    View {
        html,
        text: text_table(caption, headers, rows),
    }
}

fn text_table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut text = format!("{caption}\n");
    text.push_str(&line(headers.iter().map(|h| h.to_string()).collect()));
    text.push('\n');
    for row in rows {
        text.push_str(&line(row.clone()));
        text.push('\n');
    }
    if rows.is_empty() {
        text.push_str("(none)\n");
    }
    text
}

fn status_badge(status: &str) -> String {
    let word = status.split_whitespace().next().unwrap_or_default();
    let color = match word {
        "complete" | "ok" => "#2e7d32",
        "failed" | "lost" => "#c62828",
        "canceled" => "#6d4c41",
        "running" | "starting" => "#1565c0",
        "pending" => "#ef6c00",
        _ => "#616161",
    };
    format!(
        "<span style=\"color:{color};font-weight:bold\">{}</span>",
        encode_text(status)
    )
}

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
            let mut row = vec![
                r.name.clone(),
                r.status.to_string(),
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

/// One job's status, while it may still change (shown under a display id).
pub fn job_status(server: &str, record: &JobRecord, note: &str) -> View {
    let mut view = jobs(server, std::slice::from_ref(record));
    if !note.is_empty() {
        view.html
            .push_str(&format!("<p><i>{}</i></p>", encode_text(note)));
        view.text.push_str(note);
        view.text.push('\n');
    }
    view
}

/// A job's files.
pub fn files(job: &str, listing: &Listing) -> View {
    let mut rows: Vec<Vec<String>> = listing
        .files
        .iter()
        .map(|f| {
            vec![
                if f.is_dir {
                    format!("{}/", f.path)
                } else {
                    f.path.clone()
                },
                if f.is_dir {
                    String::new()
                } else {
                    human_size(f.size)
                },
                f.role.word().to_string(),
            ]
        })
        .collect();
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

/// `1.5 MiB`-style sizes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// A note for a status display: how it ended or that it is being watched.
pub fn watch_note(status: &JobStatus) -> &'static str {
    if status.is_final() {
        ""
    } else {
        "updating live…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_text_aligned() {
        let view = table(
            "t",
            &["job", "status"],
            &[vec!["<b>x</b>".into(), "complete".into()]],
        );
        assert!(view.html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(view.text.contains("<b>x</b>  complete"));
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1 << 30), "1.0 GiB");
    }
}
