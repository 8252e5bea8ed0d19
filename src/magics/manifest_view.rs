//! A job's manifest as a table: what ran (the script's hash, inputs,
//! options), where (on AWS, the instance), by whom and when, each attempt,
//! and what it made.

use crate::crimpl::manifest::{FileDigest, Manifest};
use crate::magics::Output;
use crate::magics::table::{human_size, table};

/// How many outputs the table names.
const OUTPUTS_SHOWN: usize = 50;

/// Show job `job`'s manifest in `out`.
pub fn show(job: &str, manifest: &Manifest, out: &Output) {
    let mut rows: Vec<Vec<String>> = vec![
        row("digest", &manifest.digest),
        row("script", &format!("sha256 {}", manifest.script_sha256)),
    ];
    for input in &manifest.inputs {
        rows.push(row("input", &file(input)));
    }
    for (name, value) in &manifest.options {
        rows.push(row(&format!("--{name}"), value));
    }
    let server = &manifest.server;
    rows.push(row(
        "server",
        &format!("{} {} {}", server.kind, server.host, server.directory),
    ));
    for (name, value) in &manifest.placement {
        rows.push(row(name, value));
    }
    rows.push(row(
        "submitted",
        &format!(
            "{} by {} (crimpl-kernel {})",
            manifest.submitted_at, manifest.submitted_by, manifest.kernel_version
        ),
    ));
    for attempt in &manifest.attempts {
        let after = attempt
            .after
            .as_ref()
            .map_or(String::new(), |after| format!(", after it ended {after}"));
        rows.push(row(
            &format!("attempt {}", attempt.number),
            &format!("{} {}{after}", attempt.at, attempt.why),
        ));
    }
    match &manifest.end {
        None => rows.push(row("ended", "not yet")),
        Some(end) => {
            let code = end
                .exit_code
                .map_or(String::new(), |code| format!(", exit code {code}"));
            rows.push(row("ended", &format!("{}{code}", end.status)));
            let times = format!(
                "{} to {}",
                end.started.as_deref().unwrap_or("?"),
                end.ended.as_deref().unwrap_or("?")
            );
            rows.push(row("ran", &times));
            for (name, value) in &end.scheduler {
                rows.push(row(name, value));
            }
            for output in end.outputs.iter().take(OUTPUTS_SHOWN) {
                rows.push(row("output", &file(output)));
            }
            if end.outputs.len() > OUTPUTS_SHOWN {
                rows.push(row(
                    "output",
                    &format!("... and {} more", end.outputs.len() - OUTPUTS_SHOWN),
                ));
            }
        }
    }
    out.display(
        &table(&format!("Manifest of job {job}"), &["", ""], &rows),
        None,
    );
}

fn row(name: &str, value: &str) -> Vec<String> {
    vec![name.to_string(), value.to_string()]
}

fn file(file: &FileDigest) -> String {
    format!(
        "{} ({}, sha256 {})",
        file.name,
        human_size(file.size),
        file.sha256
    )
}
