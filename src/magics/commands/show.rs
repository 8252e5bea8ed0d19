//! `%crimpl show [JOB] PATH...`: a job's files shown in the notebook by
//! their type, read where they are (nothing is fetched): one file, a
//! gallery of a sweep's images, a sweep's tables merged into one; with
//! `--follow`, updated in place while the job runs.

use std::time::Duration;

use clap::Args;

use crate::crimpl::layout::{TASK_DIR_PREFIX, is_task_dir};
use crate::crimpl::{JobFile, Look, Peeked};
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
/// How often the followed files are looked at.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// Every how many looks the job's state is read (6 s).
const STATE_EVERY: usize = 3;

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
/// changes. Each round is one command that looks at every followed file and
/// reads only those that changed; every [`STATE_EVERY`]th round the job's
/// state comes from the server's poller (which its watcher polls anyway).
async fn follow(
    target: &JobTarget,
    mut last: Vec<Peeked>,
    display_ids: Vec<String>,
    limits: Limits,
    out: &Output,
    cancel: &Cancel,
) -> MagicResult {
    let job = target.job.clone();
    for round in 1usize.. {
        tokio::select! {
            _ = cancel.cancelled() => {
                return Err(MagicError::Interrupted(format!(
                    "Stopped following job {job}'s files; the job itself goes on."
                )));
            }
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
        let looks: Vec<Look> = last
            .iter()
            .map(|p| Look {
                path: p.path.clone(),
                part: previews::part_for(previews::kind_of(&p.path), MAX_FILE),
                unless: p.size.map(|size| (size, p.modified)),
            })
            .collect();
        let (now, record) = target
            .blocking(move |server, job| {
                let now = server.peek(job, &looks)?;
                let record = match round % STATE_EVERY {
                    0 => server.watch_record(job)?,
                    _ => None,
                };
                Ok((now, record))
            })
            .await?;
        for (i, peeked) in now.into_iter().enumerate() {
            let before = &last[i];
            if peeked.size.is_some()
                && (peeked.size, peeked.modified) != (before.size, before.modified)
            {
                let size = peeked.size.unwrap_or(0);
                let data = previews::preview(&job, &peeked.path, size, &peeked.bytes, limits);
                out.update_data(data, &display_ids[i]);
                last[i] = peeked;
            }
        }
        if let Some(record) = record.filter(|r| r.status.is_final()) {
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
    Ok(())
}

/// `count` display ids of their own.
fn new_display_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| format!("crimpl-show-{}", uuid::Uuid::new_v4().simple()))
        .collect()
}

/// Read `files` for their previews, in one command.
async fn read(target: &JobTarget, files: &[JobFile]) -> Result<Vec<Peeked>, MagicError> {
    let parts: Vec<Look> = files
        .iter()
        .map(|f| Look {
            path: f.path.clone(),
            part: previews::part_for(previews::kind_of(&f.path), f.size),
            unless: None,
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
