//! Tab completion and inspect help for magic lines, read off the clap
//! command tree so they never disagree with the parser.

use clap::CommandFactory;

use super::commands::MagicLine;

/// Completion candidates for the word at the cursor, and its byte range in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Candidate words.
    pub matches: Vec<String>,
    /// Start of the word being completed.
    pub start: usize,
    /// End of the word being completed.
    pub end: usize,
}

/// Complete `line` at byte `cursor` (clamped to the line, and moved back to
/// a character boundary), offering commands, options, server names and job names.
pub fn complete(line: &str, cursor: usize, servers: &[String], jobs: &[String]) -> Completion {
    let mut cursor = cursor.min(line.len());
    while !line.is_char_boundary(cursor) {
        cursor -= 1;
    }
    let before = &line[..cursor];
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let partial = &before[start..];
    let words: Vec<&str> = before[..start].split_whitespace().collect();
    let words = match words.first() {
        Some(first) if first.starts_with('%') => &words[1..],
        _ => &words[..],
    };
    let mut command = MagicLine::command();
    for word in words.iter().filter(|w| !w.starts_with('-')) {
        match command.find_subcommand(word) {
            Some(sub) => command = sub.clone(),
            None => break,
        }
    }
    let previous = words.last().copied().unwrap_or_default();
    // `server use|show|check|remove|trust NAME` take a server name right after the subcommand.
    let server_positional = matches!(
        command.get_name(),
        "use" | "show" | "check" | "remove" | "trust"
    ) && previous == command.get_name();
    let candidates: Vec<String> = if previous == "--server" || server_positional {
        servers.to_vec()
    } else if partial.starts_with('-') {
        command
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
            .chain(std::iter::once("--help".to_string()))
            .collect()
    } else if command.has_subcommands() {
        command
            .get_subcommands()
            .map(|sub| sub.get_name().to_string())
            .filter(|name| name != "help")
            .chain(std::iter::once("help".to_string()))
            .collect()
    } else if command.get_positionals().any(|p| p.get_id() == "job") {
        jobs.to_vec()
    } else {
        Vec::new()
    };
    let mut matches: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(partial))
        .collect();
    matches.sort();
    matches.dedup();
    Completion {
        matches,
        start,
        end: cursor,
    }
}

/// The long help of the command named on `line`.
pub fn help_for(line: &str) -> Option<String> {
    let mut command = MagicLine::command();
    let words = shlex::split(line).unwrap_or_default();
    for word in words.iter().skip(1).filter(|w| !w.starts_with('-')) {
        match command.find_subcommand(word) {
            Some(sub) => command = sub.clone(),
            None => break,
        }
    }
    let help = command.render_long_help().to_string();
    (!help.trim().is_empty()).then_some(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(line: &str) -> Vec<String> {
        complete(
            line,
            line.len(),
            &["gpu".into(), "local".into()],
            &["fit-1".into()],
        )
        .matches
    }

    #[test]
    fn commands_options_servers_and_jobs() {
        assert_eq!(matches("%crimpl su"), vec!["submit"]);
        assert_eq!(matches("%crimpl server n"), vec!["new"]);
        assert!(matches("%%crimpl submit --w").contains(&"--wait".to_string()));
        assert_eq!(matches("%crimpl jobs --server g"), vec!["gpu"]);
        assert_eq!(matches("%crimpl server use "), vec!["gpu", "local"]);
        assert_eq!(matches("%crimpl status f"), vec!["fit-1"]);
    }

    #[test]
    fn the_range_covers_the_partial_word() {
        let completion = complete("%crimpl st", 10, &[], &[]);
        assert_eq!((completion.start, completion.end), (8, 10));
    }

    #[test]
    fn any_whitespace_and_any_cursor_is_safe() {
        // Option+Space on a Mac types a non-breaking space (two bytes in UTF-8).
        let line = "%crimpl\u{a0}st";
        let completion = complete(line, line.len(), &[], &[]);
        assert_eq!(completion.matches, vec!["status"]);
        assert_eq!(&line[completion.start..completion.end], "st");
        for cursor in 0..=line.len() + 3 {
            complete(line, cursor, &[], &[]);
        }
    }

    #[test]
    fn help_names_the_command() {
        assert!(help_for("%%crimpl submit").unwrap().contains("--nprocs"));
        assert!(help_for("%crimpl").unwrap().contains("submit"));
    }
}
