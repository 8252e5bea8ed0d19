//! Splitting a cell into Rust code and `%crimpl` magics, and a cell as the
//! history file keeps it.

use std::borrow::Cow;

use super::commands::hide_secrets;

/// The prefix of a line magic.
pub const LINE_PREFIX: &str = "%crimpl";
/// The prefix of a cell magic (first line only).
pub const CELL_PREFIX: &str = "%%crimpl";

/// One piece of a cell, run in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellPart {
    /// Consecutive lines of Rust code.
    Rust(String),
    /// A magic line (without its `%crimpl`/`%%crimpl`), and the cell body for cell magics.
    Magic {
        /// The arguments after the prefix.
        line: String,
        /// The rest of the cell, for `%%crimpl`.
        body: Option<String>,
    },
}

/// Whether `line` is a `%crimpl` or `%%crimpl` line.
pub fn is_magic_line(line: &str) -> bool {
    magic_arguments(line).is_some()
}

/// The arguments of a magic line, or `None` if it is not one.
fn magic_arguments(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let rest = line
        .strip_prefix(CELL_PREFIX)
        .or_else(|| line.strip_prefix(LINE_PREFIX))?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest.trim())
}

/// Split `code`: a first line `%%crimpl ...` makes the whole cell one magic;
/// otherwise each `%crimpl` line is a magic and the lines between are Rust.
pub fn split_cell(code: &str) -> Vec<CellPart> {
    let mut first_and_rest = code.splitn(2, '\n');
    let first = first_and_rest.next().unwrap_or_default();
    if first.trim_start().starts_with(CELL_PREFIX)
        && let Some(line) = magic_arguments(first)
    {
        return vec![CellPart::Magic {
            line: line.to_string(),
            body: Some(first_and_rest.next().unwrap_or_default().to_string()),
        }];
    }
    let mut parts = Vec::new();
    let mut rust = Vec::new();
    for line in code.lines() {
        match magic_arguments(line).filter(|_| !line.trim_start().starts_with(CELL_PREFIX)) {
            Some(arguments) => {
                flush_rust(&mut rust, &mut parts);
                parts.push(CellPart::Magic {
                    line: arguments.to_string(),
                    body: None,
                });
            }
            None => rust.push(line),
        }
    }
    flush_rust(&mut rust, &mut parts);
    parts
}

/// `code` as the history file keeps it: in `%crimpl env` lines, the values
/// of names that look secret hidden (as `%crimpl env` hides them in listings).
pub fn for_history(code: &str) -> Cow<'_, str> {
    if !code.lines().any(|line| {
        magic_arguments(line).is_some_and(|arguments| hide_secrets(arguments).is_some())
    }) {
        return Cow::Borrowed(code);
    }
    let mut kept = String::with_capacity(code.len());
    for line in code.split_inclusive('\n') {
        let hidden = magic_arguments(line).and_then(hide_secrets);
        match hidden {
            Some(arguments) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                let prefix = if line.trim_start().starts_with(CELL_PREFIX) {
                    CELL_PREFIX
                } else {
                    LINE_PREFIX
                };
                let end = &line[line.trim_end_matches(['\r', '\n']).len()..];
                kept.push_str(&format!("{indent}{prefix} {arguments}{end}"));
            }
            None => kept.push_str(line),
        }
    }
    Cow::Owned(kept)
}

fn flush_rust(lines: &mut Vec<&str>, parts: &mut Vec<CellPart>) {
    let code = lines.join("\n");
    if !code.trim().is_empty() {
        parts.push(CellPart::Rust(code));
    }
    lines.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_magic_takes_the_whole_body() {
        assert_eq!(
            split_cell("%%crimpl run --server s\necho hi\n%crimpl jobs\n"),
            vec![CellPart::Magic {
                line: "run --server s".into(),
                body: Some("echo hi\n%crimpl jobs\n".into())
            }]
        );
    }

    #[test]
    fn line_magics_split_rust_code_in_order() {
        let parts = split_cell("let a = 1;\n%crimpl jobs\nprintln!(\"{a}\");");
        assert_eq!(
            parts,
            vec![
                CellPart::Rust("let a = 1;".into()),
                CellPart::Magic {
                    line: "jobs".into(),
                    body: None
                },
                CellPart::Rust("println!(\"{a}\");".into()),
            ]
        );
    }

    #[test]
    fn the_history_keeps_no_secret_env_values() {
        let cell = "let a = 1;\n  %crimpl env API_TOKEN=s3cr3t n=2\r\n%crimpl jobs\n";
        assert_eq!(
            for_history(cell),
            "let a = 1;\n  %crimpl env 'API_TOKEN=<hidden>' 'n=2'\r\n%crimpl jobs\n"
        );
        assert!(matches!(
            for_history("%crimpl env n=2\nlet TOKEN=1;"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn lookalikes_are_rust() {
        assert!(!is_magic_line("%crimplx"));
        assert!(is_magic_line("  %crimpl help"));
        assert_eq!(
            split_cell("let crimpl = 1;"),
            vec![CellPart::Rust("let crimpl = 1;".into())]
        );
    }
}
