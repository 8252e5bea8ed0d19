//! The inputs (and text outputs) of this kernel's cells, for `history_request`.
//!
//! Requests are read leniently, as ipykernel does: clients often leave out
//! `n`, `unique`, `session` or `output`.

use serde::Deserialize;
use serde_json::{Value, json};

/// The session number of the running kernel in history replies.
pub const SESSION: i64 = 1;

/// One executed cell.
struct Entry {
    line: usize,
    input: String,
    output: Option<String>,
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

/// The history of this kernel session.
#[derive(Default)]
pub struct History {
    entries: Vec<Entry>,
}

impl History {
    /// Record cell number `line` with its `input`.
    pub fn record(&mut self, line: usize, input: &str) {
        self.entries.push(Entry {
            line,
            input: input.into(),
            output: None,
        });
    }

    /// Attach the plain-text result to the latest cell.
    pub fn record_output(&mut self, output: &str) {
        if let Some(last) = self.entries.last_mut() {
            last.output = Some(output.into());
        }
    }

    /// The `history` list answering `query`.
    pub fn query(&self, query: &HistoryQuery) -> Result<Vec<Value>, String> {
        let selected: Vec<&Entry> = match query.hist_access_type.as_str() {
            "tail" => {
                let n = query.n.unwrap_or(10);
                self.entries[self.entries.len().saturating_sub(n)..]
                    .iter()
                    .collect()
            }
            "range" => {
                if query.session != 0 && query.session != SESSION {
                    Vec::new()
                } else {
                    let stop = query.stop.unwrap_or(i64::MAX);
                    self.entries
                        .iter()
                        .filter(|e| (e.line as i64) >= query.start && (e.line as i64) < stop)
                        .collect()
                }
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
                if query.output {
                    json!([
                        SESSION,
                        e.line,
                        [e.input, e.output.clone().unwrap_or_default()]
                    ])
                } else {
                    json!([SESSION, e.line, e.input])
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> History {
        let mut history = History::default();
        for (line, input) in ["1 + 2", "let x = 3;", "1 + 2"].iter().enumerate() {
            history.record(line + 1, input);
        }
        history
    }

    fn query(value: Value) -> Vec<Value> {
        history()
            .query(&serde_json::from_value(value).unwrap())
            .unwrap()
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
    fn output_pairs_input_with_result() {
        let mut history = history();
        history.record_output("3");
        let q = serde_json::from_value(json!({"hist_access_type": "tail", "n": 1, "output": true}))
            .unwrap();
        assert_eq!(
            history.query(&q).unwrap(),
            vec![json!([1, 3, ["1 + 2", "3"]])]
        );
    }
}
