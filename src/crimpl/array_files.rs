//! What an array's tasks wrote, summarised: a thousand task directories
//! read as one table of output paths (in how many tasks, how many bytes)
//! and the tasks that wrote nothing, not as thousands of rows.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use super::job::{FileRole, JobFile, for_each_entry};
use super::layout::is_task_dir;

/// The most distinct output paths summarised one by one.
pub const MAX_PATHS: usize = 200;

/// The outputs of an array's tasks.
#[derive(Debug, Default, PartialEq)]
pub struct TaskOutputs {
    /// The array's own top-level entries (its files and inputs, crimpl's),
    /// in path order, not its task directories.
    pub own: Vec<JobFile>,
    /// How many task directories there are.
    pub tasks: usize,
    /// Per output path inside a task directory (in path order, at most
    /// [`MAX_PATHS`]): how many tasks wrote it, and their bytes in all.
    pub paths: BTreeMap<String, (usize, u64)>,
    /// Output files under paths beyond the first [`MAX_PATHS`], and their bytes.
    pub other_files: (usize, u64),
    /// The tasks that wrote no output, in order.
    pub without_outputs: Vec<String>,
}

/// Summarise the task directories in [`super::scripts::list_files`]'s
/// output, as it arrives (memory grows with the tasks, not their files).
pub fn read_task_outputs(reader: impl BufRead) -> std::io::Result<TaskOutputs> {
    let mut summary = TaskOutputs::default();
    let mut tasks = BTreeSet::new();
    let mut with_outputs = BTreeSet::new();
    for_each_entry(reader, |file| {
        let Some((task, path)) = file.path.split_once('/') else {
            if file.is_dir && is_task_dir(&file.path) {
                tasks.insert(file.path);
            } else {
                summary.own.push(file);
            }
            return;
        };
        if !is_task_dir(task) || file.is_dir || file.role != FileRole::Output {
            return;
        }
        with_outputs.insert(task.to_string());
        let full = summary.paths.len() >= MAX_PATHS;
        match summary.paths.get_mut(path) {
            Some((count, bytes)) => {
                *count += 1;
                *bytes += file.size;
            }
            None if full => {
                summary.other_files.0 += 1;
                summary.other_files.1 += file.size;
            }
            None => {
                summary.paths.insert(path.to_string(), (1, file.size));
            }
        }
    })?;
    summary.own.sort_by(|a, b| a.path.cmp(&b.path));
    summary.tasks = tasks.len();
    summary.without_outputs = tasks.difference(&with_outputs).cloned().collect();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_counted_per_path_and_silent_tasks_named() {
        // The input list (none), its end, then type, size and path per entry.
        let entries = [
            "d\t0\ttask-0001",
            "f\t3\ttask-0001/out.txt",
            "f\t10\ttask-0001/plots/a.png",
            "l\t0\ttask-0001/input.csv",
            "f\t9\ttask-0001/crimpl-job.status",
            "d\t0\ttask-0002",
            "f\t4\ttask-0002/out.txt",
            "d\t0\ttask-0003",
            "f\t1\tsummary.txt",
        ];
        let mut stream = b"\0".to_vec();
        for entry in entries {
            stream.extend_from_slice(entry.as_bytes());
            stream.push(0);
        }
        let summary = read_task_outputs(&stream[..]).unwrap();
        assert_eq!(summary.tasks, 3);
        let own: Vec<&str> = summary.own.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(own, ["summary.txt"]);
        assert_eq!(
            summary.paths.into_iter().collect::<Vec<_>>(),
            [
                ("out.txt".to_string(), (2, 7)),
                ("plots/a.png".to_string(), (1, 10))
            ]
        );
        assert_eq!(summary.without_outputs, ["task-0003"]);
        assert_eq!(summary.other_files, (0, 0));
    }
}
