//! The inputs (and text outputs) of this kernel's cells, for `history_request`.
//!
//! Inputs are also appended to a file (JSON lines under the user's data
//! directory), so that a restarted kernel and `jupyter console`'s up-arrow see
//! earlier sessions; each kernel is a new session, numbered after the last one
//! in the file. Outputs are kept for the running session only.
//!
//! The file is the user's alone (0600 in a 0700 directory), holds no value
//! of a secret-looking `%crimpl env` name (see [`crate::magics::for_history`];
//! this session's own entries keep the cell as typed), and keeps the last
//! [`KEEP`] cells: a kernel starting finds more than [`KEEP`] + [`MARGIN`]
//! and rewrites it (whole, then renamed: never half a file), as it does a
//! file written before secrets were hidden.
//!
//! Requests are read leniently, as ipykernel does: clients often leave out
//! `n`, `unique`, `session` or `output`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use jupyter_protocol::HistoryEntry;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::kernel::protocol::log::log;
use crate::magics::for_history;
use crate::private_files;

/// Cells kept in the file, and read back at start (the newest ones).
const KEEP: usize = 10_000;

/// Cells the file may hold past [`KEEP`] before a starting kernel trims it
/// (so that not every start rewrites it).
const MARGIN: usize = 1_000;

/// One executed cell.
#[derive(Serialize, Deserialize)]
struct Entry {
    session: i64,
    line: usize,
    input: String,
    #[serde(skip)]
    output: Option<String>,
}

/// A line of the history file: a cell, or the start of a session.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Cell(Entry),
    Start { session: i64 },
}

/// A `history_request`'s content.
#[derive(Deserialize)]
#[serde(default)]
pub struct HistoryQuery {
    hist_access_type: String,
    output: bool,
    session: i64,
    start: i64,
    stop: Option<i64>,
    n: Option<usize>,
    pattern: String,
    unique: bool,
}

impl Default for HistoryQuery {
    fn default() -> Self {
        Self {
            hist_access_type: "tail".into(),
            output: false,
            session: 0,
            start: 0,
            stop: None,
            n: None,
            pattern: "*".into(),
            unique: false,
        }
    }
}

/// The history of this and earlier sessions.
pub struct History {
    session: i64,
    entries: Vec<Entry>,
    file: Option<PathBuf>,
}

impl Default for History {
    /// A history of this session only, kept in memory.
    fn default() -> Self {
        Self {
            session: 1,
            entries: Vec::new(),
            file: None,
        }
    }
}

impl History {
    /// The default history file: `crimpl-kernel/history.jsonl` in the user's data directory.
    pub fn default_file() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("crimpl-kernel").join("history.jsonl"))
    }

    /// A new session recorded in `file`, after the sessions already there.
    /// If the file cannot be used, the history is this session's only (and
    /// the kernel's log says why).
    pub fn open(file: &Path) -> Self {
        match Self::start_session(file) {
            Ok(history) => history,
            Err(err) => {
                log(&format!(
                    "history is kept for this session only: cannot use {}: {err}",
                    file.display()
                ));
                Self::default()
            }
        }
    }

    fn start_session(file: &Path) -> std::io::Result<Self> {
        Self::start_session_keeping(file, KEEP, MARGIN)
    }

    /// Start a session in `file`, keeping the last `keep` cells once it holds `keep + margin`.
    fn start_session_keeping(file: &Path, keep: usize, margin: usize) -> std::io::Result<Self> {
        if let Some(dir) = file.parent() {
            private_files::create_dir(dir)?;
        }
        // Two kernels starting at once must not take the same session number.
        let mut handle = open_locked(file)?;
        let mut entries = Vec::new();
        let mut last_session = 0;
        let mut had_secrets = false;
        for line in BufReader::new(&handle).lines() {
            match serde_json::from_str::<Line>(&line?) {
                Ok(Line::Cell(mut entry)) => {
                    last_session = last_session.max(entry.session);
                    if let Cow::Owned(hidden) = for_history(&entry.input) {
                        entry.input = hidden;
                        had_secrets = true;
                    }
                    entries.push(entry);
                }
                Ok(Line::Start { session }) => last_session = last_session.max(session),
                Err(_) => {} // a line torn by a crash: skip it
            }
        }
        let too_long = entries.len() > keep + margin;
        entries.drain(..entries.len().saturating_sub(keep));
        let session = last_session + 1;
        let start = json!({ "session": session }).to_string();
        if too_long || had_secrets {
            // Still under the lock: a kernel waiting for it sees the new file.
            let mut text = String::new();
            for entry in &entries {
                text.push_str(&serde_json::to_string(&Line::Cell(entry.written()))?);
                text.push('\n');
            }
            text.push_str(&start);
            text.push('\n');
            private_files::write(file, text.as_bytes())?;
        } else {
            writeln!(handle, "{start}")?;
        }
        Ok(Self {
            session,
            entries,
            file: Some(file.to_path_buf()),
        })
    }

    /// Record cell number `line` with its `input`.
    pub fn record(&mut self, line: usize, input: &str) {
        let entry = Entry {
            session: self.session,
            line,
            input: input.into(),
            output: None,
        };
        if let Some(file) = &self.file
            && let Err(err) = append(file, &entry)
        {
            log(&format!("cannot append to {}: {err}", file.display()));
        }
        self.entries.push(entry);
    }

    /// Attach the plain-text result to the latest cell.
    pub fn record_output(&mut self, output: &str) {
        if let Some(last) = self.entries.last_mut() {
            last.output = Some(output.into());
        }
    }

    /// The `history` list answering `query`.
    pub fn query(&self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, String> {
        let selected: Vec<&Entry> = match query.hist_access_type.as_str() {
            "tail" => {
                let n = query.n.unwrap_or(10);
                self.entries[self.entries.len().saturating_sub(n)..]
                    .iter()
                    .collect()
            }
            "range" => {
                // 0 is this session, negative numbers count back from it (as in IPython).
                let session = if query.session <= 0 {
                    self.session + query.session
                } else {
                    query.session
                };
                let stop = query.stop.unwrap_or(i64::MAX);
                self.entries
                    .iter()
                    .filter(|e| e.session == session)
                    .filter(|e| (e.line as i64) >= query.start && (e.line as i64) < stop)
                    .collect()
            }
            "search" => {
                let pattern = glob::Pattern::new(&query.pattern)
                    .map_err(|e| format!("invalid history pattern {:?}: {e}", query.pattern))?;
                let mut matches: Vec<&Entry> = self
                    .entries
                    .iter()
                    .filter(|e| pattern.matches(&e.input))
                    .collect();
                if query.unique {
                    let mut seen = std::collections::HashSet::new();
                    let mut unique: Vec<&Entry> = matches
                        .into_iter()
                        .rev()
                        .filter(|e| seen.insert(e.input.as_str()))
                        .collect();
                    unique.reverse();
                    matches = unique;
                }
                if let Some(n) = query.n {
                    matches = matches.split_off(matches.len().saturating_sub(n));
                }
                matches
            }
            other => return Err(format!("unknown hist_access_type {other:?}")),
        };
        Ok(selected
            .into_iter()
            .map(|e| {
                // Sessions are numbered from 1: the cast never meets a negative.
                let session = usize::try_from(e.session).unwrap_or_default();
                if query.output {
                    let output = e.output.clone().unwrap_or_default();
                    HistoryEntry::InputOutput(session, e.line, (e.input.clone(), output))
                } else {
                    HistoryEntry::Input(session, e.line, e.input.clone())
                }
            })
            .collect())
    }
}

impl Entry {
    /// This entry as the file keeps it (secret-looking values hidden, no output).
    fn written(&self) -> Self {
        Self {
            session: self.session,
            line: self.line,
            input: for_history(&self.input).into_owned(),
            output: None,
        }
    }
}

/// `file` opened to append and locked; opened again if another kernel
/// replaced it (trimmed it) before the lock was taken.
fn open_locked(file: &Path) -> std::io::Result<File> {
    loop {
        let handle = private_files::open_append(file)?;
        handle.lock()?;
        let (opened, current) = (handle.metadata()?, std::fs::metadata(file)?);
        if (opened.dev(), opened.ino()) == (current.dev(), current.ino()) {
            return Ok(handle);
        }
    }
}

fn append(file: &Path, entry: &Entry) -> std::io::Result<()> {
    let mut handle = open_locked(file)?;
    // One write per line, so that concurrent kernels never interleave within one.
    let mut line = serde_json::to_string(&Line::Cell(entry.written()))?;
    line.push('\n');
    handle.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn history() -> History {
        let mut history = History::default();
        for (line, input) in ["1 + 2", "let x = 3;", "1 + 2"].iter().enumerate() {
            history.record(line + 1, input);
        }
        history
    }

    fn query(value: Value) -> Vec<Value> {
        values(
            history()
                .query(&serde_json::from_value(value).unwrap())
                .unwrap(),
        )
    }

    fn values(entries: Vec<HistoryEntry>) -> Vec<Value> {
        entries
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }

    #[test]
    fn tail_returns_the_last_n() {
        let entries = query(json!({"hist_access_type": "tail", "n": 2}));
        assert_eq!(
            entries,
            vec![json!([1, 2, "let x = 3;"]), json!([1, 3, "1 + 2"])]
        );
    }

    #[test]
    fn range_is_half_open() {
        let entries =
            query(json!({"hist_access_type": "range", "session": 1, "start": 2, "stop": 3}));
        assert_eq!(entries, vec![json!([1, 2, "let x = 3;"])]);
    }

    #[test]
    fn search_globs_and_deduplicates() {
        assert_eq!(
            query(json!({"hist_access_type": "search", "pattern": "1*"})).len(),
            2
        );
        let unique = query(json!({"hist_access_type": "search", "pattern": "1*", "unique": true}));
        assert_eq!(unique, vec![json!([1, 3, "1 + 2"])]);
    }

    #[test]
    fn a_new_session_sees_the_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.jsonl");
        let mut first = History::open(&file);
        first.record(1, "let a = 1;");
        let mut second = History::open(&file);
        second.record(1, "a + 1");
        let tail = serde_json::from_value(json!({"hist_access_type": "tail", "n": 5})).unwrap();
        assert_eq!(
            values(second.query(&tail).unwrap()),
            vec![json!([1, 1, "let a = 1;"]), json!([2, 1, "a + 1"])]
        );
        let previous =
            serde_json::from_value(json!({"hist_access_type": "range", "session": -1})).unwrap();
        assert_eq!(
            values(second.query(&previous).unwrap()),
            vec![json!([1, 1, "let a = 1;"])]
        );
    }

    #[test]
    fn the_file_is_private_and_holds_no_secret_value() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("crimpl-kernel").join("history.jsonl");
        let mut history = History::open(&file);
        history.record(1, "%crimpl env API_TOKEN=s3cr3t n=2");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("API_TOKEN=<hidden>"), "{text}");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        let tail = serde_json::from_value(json!({"hist_access_type": "tail", "n": 1})).unwrap();
        assert_eq!(
            values(history.query(&tail).unwrap()),
            vec![json!([1, 1, "%crimpl env API_TOKEN=s3cr3t n=2"])],
            "this session keeps the cell as typed"
        );
    }

    #[test]
    fn a_file_written_before_secrets_were_hidden_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.jsonl");
        let old = json!({"session": 1, "line": 1, "input": "%crimpl env DB_PASSWORD=hunter2"});
        std::fs::write(&file, format!("{old}\n")).unwrap();
        let history = History::open(&file);
        assert_eq!(history.session, 2);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn the_file_keeps_the_last_cells_once_past_the_margin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.jsonl");
        let cells = |file: &Path| {
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .filter(|line| line.contains("input"))
                .count()
        };
        for session in 1..=3 {
            let mut history = History::start_session_keeping(&file, 4, 2).unwrap();
            assert_eq!(history.session, session);
            for line in 1..=3 {
                history.record(line, &format!("cell {session}.{line}"));
            }
        }
        assert_eq!(cells(&file), 9, "past the margin only now");
        let history = History::start_session_keeping(&file, 4, 2).unwrap();
        assert_eq!(cells(&file), 4);
        assert_eq!(history.session, 4, "session numbers go on");
        assert_eq!(history.entries.len(), 4);
        assert_eq!(history.entries[0].input, "cell 2.3");
        let next = History::start_session_keeping(&file, 4, 2).unwrap();
        assert_eq!(next.session, 5);
        assert_eq!(cells(&file), 4);
    }

    #[test]
    fn output_pairs_input_with_result() {
        let mut history = history();
        history.record_output("3");
        let q = serde_json::from_value(json!({"hist_access_type": "tail", "n": 1, "output": true}))
            .unwrap();
        assert_eq!(
            values(history.query(&q).unwrap()),
            vec![json!([1, 3, ["1 + 2", "3"]])]
        );
    }
}
