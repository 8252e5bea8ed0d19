//! `%crimpl show [JOB] PATH...`: a job's files shown in the notebook by
//! their type, read where they are (nothing is fetched): one file, a
//! gallery of a sweep's images, a sweep's tables merged into one; with
//! `--follow`, updated in place while the job runs.

use std::collections::HashMap;
use std::time::Duration;

use clap::Args;

use crate::crimpl::layout::{TASK_DIR_PREFIX, is_task_dir};
use crate::crimpl::{JobFile, Part, Peeked};
use crate::magics::args::ServerArg;
use crate::magics::job_command::JobTarget;
use crate::magics::previews::{self, Kind, Limits};
use crate::magics::state::State;
use crate::magics::table::human_size;
use crate::magics::{Cancel, MagicError, MagicResult, Output, render};

/// The largest file shown.
const MAX_FILE: u64 = 20 << 20;
/// The most files shown one by one.
const MAX_FILES: usize = 20;
/// The most images in a sweep's gallery.
const MAX_GALLERY: usize = 24;
/// The most files followed at once.
const MAX_FOLLOWED: usize = 5;
/// How often a followed file is looked at.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// `%crimpl show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// [JOB] PATH...: the job (default: this kernel's latest; give it when naming
    /// two or more paths) and paths or globs ('plots/*.png') inside its directory.
    #[arg(required = true, value_name = "[JOB] PATH")]
    pub words: Vec<String>,
    /// A sweep: this task's file (its id, e.g. 7 for task-0007/).
    #[arg(long)]
    pub task: Option<u64>,
    /// Rows of a table to show.
    #[arg(long, default_value_t = 50)]
    pub rows: usize,
    /// Last lines of a text to show.
    #[arg(long, default_value_t = 20)]
    pub tail: usize,
    /// A sweep's CSV or TSV files as one table, with a `task` column.
    #[arg(long)]
    pub merge: bool,
    /// Update the display in place while the job runs, whenever a file changes.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// `%crimpl show [JOB] PATH... [--task N] [--merge] [--follow]`.
pub async fn show(state: &State, args: ShowArgs, out: &Output, cancel: &Cancel) -> MagicResult {
    let (job, patterns) = match args.words.as_slice() {
        [path] => (None, vec![path.clone()]),
        [job, paths @ ..] => (Some(job.clone()), paths.to_vec()),
        [] => {
            return Err(MagicError::Usage(
                "name a file: %crimpl show [JOB] PATH...".into(),
            ));
        }
    };
    let target = JobTarget::named(state, &args.server, &job)?;
    let task = args.task;
    let wanted = patterns.clone();
    let files = target
        .blocking(move |server, job| {
            let globs: Vec<String> = wanted
                .iter()
                .flat_map(|p| [p.clone(), format!("{TASK_DIR_PREFIX}*/{p}")])
                .collect();
            let mut files = server.files_matching(job, &globs)?;
            if let Some(task) = task {
                files.retain(|f| task_of(&f.path) == Some(task));
            }
            Ok(files)
        })
        .await?;
    let job = target.job.clone();
    let literal = |p: &String| !p.contains(['*', '?', '[']);
    if files.is_empty() && args.follow && task.is_none() && patterns.iter().all(literal) {
        // Not written yet: shown once the job writes them.
        let waiting: Vec<Peeked> = patterns
            .iter()
            .map(|path| Peeked {
                path: path.clone(),
                size: None,
                modified: 0,
                bytes: Vec::new(),
            })
            .collect();
        let ids = new_display_ids(waiting.len());
        for (peeked, id) in waiting.iter().zip(&ids) {
            out.display(
                &render::message(&format!("{} (not written yet)", peeked.path)),
                None,
            );
            out.display(
                &render::message("waiting for the job to write it"),
                Some(id),
            );
        }
        let limits = Limits {
            rows: args.rows,
            tail: args.tail,
        };
        return follow(&target, waiting, ids, limits, out, cancel).await;
    }
    if files.is_empty() {
        return Err(MagicError::Usage(format!(
            "no file of job {job} matches {}{}: %crimpl ls {job} lists its files",
            patterns.join(" "),
            task.map_or(String::new(), |t| format!(" in task {t}"))
        )));
    }
    let limits = Limits {
        rows: args.rows,
        tail: args.tail,
    };
    let (files, too_big): (Vec<JobFile>, Vec<JobFile>) =
        files.into_iter().partition(|f| f.size <= MAX_FILE);
    for file in &too_big {
        out.display(
            &render::message(&format!(
                "{} is {}, more than the {} shown here: %crimpl fetch {job} '{}' brings it",
                file.path,
                human_size(file.size),
                human_size(MAX_FILE),
                file.path
            )),
            None,
        );
    }
    if files.is_empty() {
        return Ok(());
    }
    let kinds: Vec<Kind> = files.iter().map(|f| previews::kind_of(&f.path)).collect();
    if args.merge {
        let Some(Kind::Delimited(delimiter)) = kinds.first().copied() else {
            return Err(MagicError::Usage(
                "--merge joins CSV or TSV files into one table: name .csv or .tsv files".into(),
            ));
        };
        if kinds.iter().any(|k| *k != Kind::Delimited(delimiter)) {
            return Err(MagicError::Usage(
                "--merge joins files of one kind: name only .csv or only .tsv files".into(),
            ));
        }
        let read = read(&target, &files).await?;
        let tables: Vec<(String, Vec<u8>)> = read
            .into_iter()
            .map(|p| (task_label(&p.path), p.bytes))
            .collect();
        let title = patterns.join(" ");
        out.display_data(
            previews::merged_table(&title, &tables, delimiter, limits.rows),
            None,
        );
        return Ok(());
    }
    let all_images = kinds
        .iter()
        .all(|k| matches!(k, Kind::Image(_) | Kind::Svg));
    if files.len() > 1 && all_images && !args.follow {
        let shown: Vec<JobFile> = files.iter().take(MAX_GALLERY).cloned().collect();
        let read = read(&target, &shown).await?;
        let images: Vec<(String, String, Vec<u8>)> = read
            .into_iter()
            .map(|p| (label(&p.path), p.path, p.bytes))
            .collect();
        out.display_data(previews::gallery(&images, files.len() - shown.len()), None);
        return Ok(());
    }
    if files.len() > MAX_FILES {
        out.display(
            &render::message(&format!(
                "{} files match; the first {MAX_FILES} are shown (name fewer, or use --task N)",
                files.len()
            )),
            None,
        );
    }
    let shown: Vec<JobFile> = files.into_iter().take(MAX_FILES).collect();
    if args.follow && shown.len() > MAX_FOLLOWED {
        return Err(MagicError::Usage(format!(
            "--follow follows at most {MAX_FOLLOWED} files; {} match: name fewer",
            shown.len()
        )));
    }
    let read = read(&target, &shown).await?;
    let display_ids = new_display_ids(read.len());
    for (peeked, id) in read.iter().zip(&display_ids) {
        let size = peeked.size.unwrap_or(0);
        out.display_data(previews::caption(&peeked.path, size, ""), None);
        let data = previews::preview(&job, &peeked.path, size, &peeked.bytes, limits);
        out.display_data(data, Some(id));
    }
    if !args.follow {
        return Ok(());
    }
    follow(&target, read, display_ids, limits, out, cancel).await
}

/// Update each file's display while the job runs, when its size or time
/// changes: per round, the job's state from the server's poller and one
/// look at every followed file (a second command only for files that changed).
async fn follow(
    target: &JobTarget,
    mut last: Vec<Peeked>,
    display_ids: Vec<String>,
    limits: Limits,
    out: &Output,
    cancel: &Cancel,
) -> MagicResult {
    let job = target.job.clone();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                return Err(MagicError::Interrupted(format!(
                    "Stopped following job {job}'s files; the job itself goes on."
                )));
            }
            // In step with the server's watchers, whose poll it shares.
            _ = tokio::time::sleep(target.server.poll_pause(FOLLOW_EVERY)) => {}
        }
        let paths: Vec<String> = last.iter().map(|p| p.path.clone()).collect();
        let (record, stats) = target
            .blocking(move |server, job| {
                // The job's state through the server's one poller (a watcher
                // of the job polls anyway); only the files' look is extra.
                let record = server
                    .watch_record(job)?
                    .ok_or_else(|| anyhow::anyhow!("job {job} is gone from the server"))?;
                let looks: Vec<(String, Part)> =
                    paths.into_iter().map(|p| (p, Part::Nothing)).collect();
                Ok((record, server.peek(job, &looks)?))
            })
            .await?;
        let changed: Vec<usize> = stats
            .iter()
            .zip(&last)
            .enumerate()
            .filter(|(_, (now, _))| now.size.is_some())
            .filter(|(_, (now, before))| (now.size, now.modified) != (before.size, before.modified))
            .map(|(i, _)| i)
            .collect();
        if !changed.is_empty() {
            let files: Vec<JobFile> = changed
                .iter()
                .map(|&i| JobFile {
                    path: stats[i].path.clone(),
                    is_dir: false,
                    size: stats[i].size.unwrap_or(0).min(MAX_FILE),
                    role: crate::crimpl::FileRole::Output,
                })
                .collect();
            let fresh: HashMap<String, Peeked> = read(target, &files)
                .await?
                .into_iter()
                .map(|p| (p.path.clone(), p))
                .collect();
            for i in changed {
                if let Some(peeked) = fresh.get(&last[i].path) {
                    let size = peeked.size.unwrap_or(0);
                    let data = previews::preview(&job, &peeked.path, size, &peeked.bytes, limits);
                    out.update_data(data, &display_ids[i]);
                    last[i] = peeked.clone();
                }
            }
        }
        if record.status.is_final() {
            out.display(
                &render::message(&format!(
                    "Job {job} ended {}: the files above are as it left them.",
                    record.shown()
                )),
                None,
            );
            return Ok(());
        }
    }
}

/// `count` display ids of their own.
fn new_display_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| format!("crimpl-show-{}", uuid::Uuid::new_v4().simple()))
        .collect()
}

/// Read `files` for their previews, in one command.
async fn read(target: &JobTarget, files: &[JobFile]) -> Result<Vec<Peeked>, MagicError> {
    let parts: Vec<(String, Part)> = files
        .iter()
        .map(|f| {
            let part = previews::part_for(previews::kind_of(&f.path), f.size);
            (f.path.clone(), part)
        })
        .collect();
    target
        .blocking(move |server, job| server.peek(job, &parts))
        .await
}

/// The task id of a path inside a task directory (`task-0007/x` is 7).
fn task_of(path: &str) -> Option<u64> {
    let (first, _) = path.split_once('/')?;
    if !is_task_dir(first) {
        return None;
    }
    first.strip_prefix(TASK_DIR_PREFIX)?.parse().ok()
}

/// How a file is named under a gallery image: its task, or its path.
fn label(path: &str) -> String {
    match task_of(path) {
        Some(task) => format!("task {task}"),
        None => path.to_string(),
    }
}

/// The `task` column of a merged table: the task directory, or the path.
fn task_label(path: &str) -> String {
    match path.split_once('/') {
        Some((first, _)) if is_task_dir(first) => first.to_string(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_come_from_task_directories_only() {
        assert_eq!(task_of("task-0007/result.csv"), Some(7));
        assert_eq!(task_of("task-x/result.csv"), None);
        assert_eq!(task_of("result.csv"), None);
        assert_eq!(label("task-0012/p.png"), "task 12");
        assert_eq!(task_label("plots/p.csv"), "plots/p.csv");
    }
}
