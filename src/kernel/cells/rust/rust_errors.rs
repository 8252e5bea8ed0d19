//! Rust compile errors shown as evcxr_jupyter shows them: against the cell's
//! own lines and columns, with the source line and a caret, in terminal
//! colours (Jupyter renders ANSI escapes in tracebacks).

use evcxr::{CompilationError, Theme};

use crate::kernel::cells::output::CellError;

/// The name the cell's code goes by in error reports.
const CELL_NAME: &str = "cell";
const RED: &str = "\x1b[1;31m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The cell error for `errors` from compiling `source` (the Rust code of the cell).
pub fn compilation_error(errors: &[CompilationError], source: &str) -> CellError {
    let mut traceback = Vec::new();
    for error in errors {
        traceback.extend(render(error, source));
    }
    CellError {
        ename: "CompilationError".into(),
        evalue: errors
            .first()
            .map(|e| e.message())
            .unwrap_or_else(|| "compilation failed".into()),
        traceback,
    }
}

/// The lines showing one error.
fn render(error: &CompilationError, source: &str) -> Vec<String> {
    if !error.is_from_user_code() {
        // Code evcxr generated around the cell: its own rendering is all there is.
        let rendered = error.rendered();
        return if rendered.trim().is_empty() {
            vec![format!("{RED}{}{RESET}", error.message())]
        } else {
            rendered.lines().map(str::to_string).collect()
        };
    }
    if let Some(report) = error.build_report(CELL_NAME.into(), source.into(), Theme::Light) {
        let mut written = Vec::new();
        let cache = ariadne::sources([(CELL_NAME.to_string(), source.to_string())]);
        if report.write(cache, &mut written).is_ok() {
            return String::from_utf8_lossy(&written)
                .lines()
                .map(str::to_string)
                .collect();
        }
    }
    // evcxr builds no report for non-ASCII code: show each span by hand.
    let mut lines = vec![format!(
        "{RED}error{RESET}: {BOLD}{}{RESET}",
        error.message()
    )];
    let source_lines: Vec<&str> = source.lines().collect();
    for message in error.spanned_messages() {
        let Some(span) = &message.span else {
            if !message.label.is_empty() {
                lines.push(format!("  = {}", message.label));
            }
            continue;
        };
        lines.push(format!(
            "  {BLUE}-->{RESET} {CELL_NAME}:{}:{}",
            span.start_line, span.start_column
        ));
        if let Some(code) = source_lines.get(span.start_line.saturating_sub(1)) {
            let width = if span.end_line == span.start_line {
                span.end_column.saturating_sub(span.start_column).max(1)
            } else {
                1
            };
            lines.push(format!("{:>4} {BLUE}|{RESET} {code}", span.start_line));
            lines.push(format!(
                "     {BLUE}|{RESET} {}{RED}{}{RESET} {BLUE}{}{RESET}",
                " ".repeat(span.start_column.saturating_sub(1)),
                "^".repeat(width),
                message.label
            ));
        }
    }
    for help in error.help() {
        lines.push(format!("  = {BOLD}help{RESET}: {help}"));
    }
    lines
}
