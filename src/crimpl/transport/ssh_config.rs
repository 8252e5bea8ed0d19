//! `Match` blocks of `~/.ssh/config`, which `ssh2-config` does not know (it
//! would skip the `Match` line and apply the block's settings to the host
//! block above it). The criteria that name the host as written become
//! `Host` lines; any other criterion is refused, naming it, rather than
//! applied to the wrong hosts.

use std::path::Path;

use anyhow::bail;

/// `text` (the config file at `path`) with `Match all` and
/// `Match originalhost PATTERNS` written as `Host` lines; an error names
/// any other `Match` line.
pub fn translate_match(text: &str, path: &Path) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let (keyword, rest) = trimmed
            .split_once(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or((trimmed, ""));
        if !keyword.eq_ignore_ascii_case("match") {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let host_line = match words.as_slice() {
            [all] if all.eq_ignore_ascii_case("all") => "Host *".to_string(),
            [criterion, patterns] if criterion.eq_ignore_ascii_case("originalhost") => {
                format!("Host {}", patterns.replace(',', " "))
            }
            _ => {
                let criterion = words
                    .iter()
                    .step_by(2)
                    .find(|w| {
                        !w.eq_ignore_ascii_case("originalhost") && !w.eq_ignore_ascii_case("all")
                    })
                    .or(words.first())
                    .copied()
                    .unwrap_or("(none)");
                bail!(
                    "{} line {}: `{}`: this kernel reads only `Match all` and `Match originalhost \
                     PATTERNS` on their own, and `Match {criterion}` would apply its settings to the \
                     wrong hosts; write those settings under a `Host` line instead",
                    path.display(),
                    number + 1,
                    trimmed.trim_end()
                )
            }
        };
        out.push_str(&host_line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_as_written_criteria_become_host_lines() {
        let text = "Host a\n  User x\nMatch originalhost b*,c\n  User y\nmatch all\n  Port 2\n";
        let out = translate_match(text, Path::new("cfg")).unwrap();
        assert_eq!(
            out,
            "Host a\n  User x\nHost b* c\n  User y\nHost *\n  Port 2\n"
        );
    }

    #[test]
    fn other_criteria_are_named() {
        for (line, named) in [
            ("Match exec \"true\"", "Match exec"),
            ("Match host gpu*", "Match host"),
            ("Match originalhost a user bob", "Match user"),
            ("Match canonical", "Match canonical"),
        ] {
            let err = translate_match(&format!("Host a\n{line}\n"), Path::new("cfg")).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("cfg line 2"), "{message}");
            assert!(message.contains(named), "{line}: {message}");
        }
    }
}
