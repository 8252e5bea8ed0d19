//! `~/.ssh/config` as OpenSSH reads it, on top of `ssh2-config`, which
//! knows neither `Match` (it would skip the `Match` line and apply the
//! block's settings to the host block above it) nor a `Match` inside an
//! `Include`d file. So `Include` lines are inlined here, and for each host
//! the `Match` blocks are evaluated (`all`, `host`, `originalhost`, `user`,
//! each may be negated with `!`, patterns are comma lists with `*`, `?` and
//! `!pattern`, as in ssh_config(5)): a matching block becomes a `Host *`
//! block, any other is left out. Any other criterion is refused, naming it,
//! rather than applied to the wrong hosts.
//!
//! `Match host` is checked against the host name after `HostName`
//! substitution and `Match user` against the login user: both come from a
//! first reading in which such blocks match nothing (OpenSSH reads the file
//! once, in order; the two differ only when one of those blocks sets the
//! `HostName` or `User` that a later one tests).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ssh2_config::{HostParams, ParseRule, SshConfig};
use wildmatch::WildMatch;

/// Deepest `Include` nesting followed (a loop ends here, as in OpenSSH).
const MAX_INCLUDE_DEPTH: usize = 16;

/// The user's ssh config, `Include`s inlined, ready to be read per host.
#[derive(Debug, Clone, Default)]
pub struct UserConfig {
    lines: Vec<Line>,
    home: PathBuf,
}

#[derive(Debug, Clone)]
enum Line {
    /// A `Host` line: it ends the block before it.
    Host(String),
    /// A `Match` line, its criteria parsed.
    Match(Vec<Criterion>),
    /// Any other line.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Criterion {
    All,
    /// `host`, `originalhost` or `user`, possibly negated, with its patterns.
    Test {
        what: Subject,
        negated: bool,
        patterns: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    Host,
    OriginalHost,
    User,
}

/// What a `Match` line is tested against.
struct Facts<'a> {
    original: &'a str,
    /// `None` in the first reading (then `host` and `user` tests fail).
    host: Option<&'a str>,
    user: Option<&'a str>,
}

impl UserConfig {
    /// Read `path` (missing: an empty config), inlining its `Include`s.
    pub fn load(path: &Path, home: &Path) -> anyhow::Result<Self> {
        let mut config = Self {
            lines: Vec::new(),
            home: home.to_path_buf(),
        };
        if path.exists() {
            config.read(path, 0)?;
        }
        Ok(config)
    }

    /// The config in `text` (as if read from `path`), for tests.
    #[cfg(test)]
    pub fn from_text(text: &str, path: &Path, home: &Path) -> anyhow::Result<Self> {
        let mut config = Self {
            lines: Vec::new(),
            home: home.to_path_buf(),
        };
        config.add(text, path, 0)?;
        Ok(config)
    }

    fn read(&mut self, path: &Path, depth: usize) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        self.add(&text, path, depth)
    }

    fn add(&mut self, text: &str, path: &Path, depth: usize) -> anyhow::Result<()> {
        let mut header: Option<Line> = None;
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            let (keyword, rest) = trimmed
                .split_once(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or((trimmed, ""));
            let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '=');
            let where_ = || format!("{} line {}: `{trimmed}`", path.display(), number + 1);
            if keyword.eq_ignore_ascii_case("host") {
                let parsed = Line::Host(line.to_string());
                header = Some(parsed.clone());
                self.lines.push(parsed);
            } else if keyword.eq_ignore_ascii_case("match") {
                let parsed = Line::Match(
                    parse_match(rest).map_err(|e| anyhow::anyhow!("{}: {e}", where_()))?,
                );
                header = Some(parsed.clone());
                self.lines.push(parsed);
            } else if keyword.eq_ignore_ascii_case("include") {
                if depth >= MAX_INCLUDE_DEPTH {
                    bail!(
                        "{}: Include nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)",
                        where_()
                    );
                }
                for pattern in rest.split_whitespace() {
                    for file in self.include_files(pattern).with_context(where_)? {
                        self.read(&file, depth + 1)?;
                    }
                }
                // The included file's own Host/Match lines end the block the
                // Include sat in: the rest of that block is its own again.
                if let Some(header) = &header {
                    self.lines.push(header.clone());
                }
            } else {
                self.lines.push(Line::Other(line.to_string()));
            }
        }
        Ok(())
    }

    /// The files an `Include` pattern names: `~/` is the home directory, a
    /// relative path is under `~/.ssh`, globs expand in sorted order.
    fn include_files(&self, pattern: &str) -> anyhow::Result<Vec<PathBuf>> {
        let path = match pattern.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None if Path::new(pattern).is_absolute() => PathBuf::from(pattern),
            None => self.home.join(".ssh").join(pattern),
        };
        let mut files: Vec<PathBuf> = glob::glob(&path.to_string_lossy())
            .with_context(|| format!("bad Include pattern {pattern:?}"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        Ok(files)
    }

    /// The settings for `alias` (the host as typed), logging in as
    /// `explicit_user` when the user gave one (`user@host`), `Match` blocks
    /// evaluated.
    pub fn params(&self, alias: &str, explicit_user: Option<&str>) -> anyhow::Result<HostParams> {
        let first = self.parse(&Facts {
            original: alias,
            host: None,
            user: None,
        })?;
        let found = first.query(alias);
        let host = found
            .host_name
            .as_deref()
            .map_or_else(|| alias.to_string(), |name| name.replace("%h", alias));
        let user = explicit_user
            .map(str::to_string)
            .or(found.user.clone())
            .or_else(|| whoami::username().ok())
            .unwrap_or_default();
        let config = self.parse(&Facts {
            original: alias,
            host: Some(&host),
            user: Some(&user),
        })?;
        Ok(config.query(alias))
    }

    /// The config with `Match` blocks resolved for `facts`, parsed.
    fn parse(&self, facts: &Facts<'_>) -> anyhow::Result<SshConfig> {
        let text = self.text_for(facts);
        SshConfig::default()
            .home_dir(&self.home)
            .parse(
                &mut text.as_bytes(),
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .context("cannot parse ~/.ssh/config")
    }

    /// The config as `Host` blocks only: a matching `Match` block becomes
    /// `Host *`, any other is left out.
    fn text_for(&self, facts: &Facts<'_>) -> String {
        let mut out = String::new();
        let mut skipping = false;
        for line in &self.lines {
            match line {
                Line::Host(text) => {
                    skipping = false;
                    out.push_str(text);
                }
                Line::Match(criteria) => {
                    skipping = !criteria.iter().all(|c| c.holds(facts));
                    if !skipping {
                        out.push_str("Host *");
                    }
                }
                Line::Other(text) if !skipping => out.push_str(text),
                Line::Other(_) => continue,
            }
            out.push('\n');
        }
        out
    }
}

/// The criteria of a `Match` line (the words after `Match`).
fn parse_match(rest: &str) -> anyhow::Result<Vec<Criterion>> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let mut criteria = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        let (negated, name) = match word.strip_prefix('!') {
            Some(name) => (true, name),
            None => (false, word),
        };
        let what = match name.to_ascii_lowercase().as_str() {
            "all" if !negated => {
                criteria.push(Criterion::All);
                i += 1;
                continue;
            }
            "host" => Subject::Host,
            "originalhost" => Subject::OriginalHost,
            "user" => Subject::User,
            _ => bail!(
                "`Match {word}` is not read by this kernel (it reads `all`, `host`, \
                 `originalhost` and `user`) and would apply its settings to the wrong hosts; \
                 write those settings under a `Host` line instead"
            ),
        };
        let Some(patterns) = words.get(i + 1) else {
            bail!("`Match {word}` needs a pattern list after it");
        };
        criteria.push(Criterion::Test {
            what,
            negated,
            patterns: patterns.split(',').map(str::to_string).collect(),
        });
        i += 2;
    }
    if criteria.is_empty() {
        bail!("`Match` needs criteria (`Match all`, `Match host PATTERNS`, ...)");
    }
    Ok(criteria)
}

impl Criterion {
    fn holds(&self, facts: &Facts<'_>) -> bool {
        let Criterion::Test {
            what,
            negated,
            patterns,
        } = self
        else {
            return true;
        };
        let (value, fold_case) = match what {
            Subject::OriginalHost => (Some(facts.original), true),
            Subject::Host => (facts.host, true),
            Subject::User => (facts.user, false),
        };
        // Unknown yet (the first reading): the block does not apply.
        let Some(value) = value else {
            return false;
        };
        pattern_list_matches(patterns, value, fold_case) != *negated
    }
}

/// OpenSSH's `match_pattern_list`: true when a pattern matches and no
/// negated (`!pattern`) one does.
fn pattern_list_matches(patterns: &[String], value: &str, fold_case: bool) -> bool {
    let fold = |s: &str| {
        if fold_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let value = fold(value);
    let mut matched = false;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern.as_str()),
        };
        if WildMatch::new(&fold(pattern)).matches(&value) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> UserConfig {
        UserConfig::from_text(text, Path::new("cfg"), Path::new("/home/u")).unwrap()
    }

    fn user_and_port(config: &UserConfig, alias: &str, user: Option<&str>) -> (String, u16) {
        let params = config.params(alias, user).unwrap();
        (params.user.unwrap_or_default(), params.port.unwrap_or(22))
    }

    #[test]
    fn originalhost_and_all_match_the_host_as_typed() {
        let c =
            config("Host a\n  User x\nMatch originalhost b*,c\n  User y\nmatch all\n  Port 2\n");
        assert_eq!(user_and_port(&c, "a", None), ("x".into(), 2));
        assert_eq!(user_and_port(&c, "bee", None), ("y".into(), 2));
        assert_eq!(user_and_port(&c, "d", None).1, 2);
    }

    #[test]
    fn match_host_sees_the_host_name_after_substitution() {
        let c = config(
            "Host gpu\n  HostName gpu.cluster.example.org\n\
             Match host *.cluster.example.org\n  User alice\n\
             Match originalhost *.cluster.example.org\n  Port 2200\n",
        );
        assert_eq!(user_and_port(&c, "gpu", None), ("alice".into(), 22));
        assert_eq!(
            user_and_port(&c, "n1.cluster.example.org", None),
            ("alice".into(), 2200)
        );
        assert_eq!(user_and_port(&c, "other", Some("bob")), ("".into(), 22));
    }

    #[test]
    fn match_user_sees_the_login_user_and_negations_hold() {
        let c = config(
            "Host h\n  User alice\nMatch user alice\n  Port 2001\n\
             Match !user alice host h\n  Port 2002\n\
             Match originalhost h,!h2\n  IdentityFile ~/.ssh/h_key\n",
        );
        assert_eq!(user_and_port(&c, "h", None).1, 2001);
        assert_eq!(user_and_port(&c, "h", Some("bob")).1, 2002);
        assert!(c.params("h", None).unwrap().identity_file.is_some());
        assert!(c.params("h2", None).unwrap().identity_file.is_none());
    }

    #[test]
    fn pattern_lists_follow_openssh() {
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert!(pattern_list_matches(&list("a*,b"), "ABC", true));
        assert!(!pattern_list_matches(&list("a*,!abc"), "abc", true));
        assert!(!pattern_list_matches(&list("!x"), "y", true));
        assert!(pattern_list_matches(&list("n?"), "n1", false));
        assert!(!pattern_list_matches(&list("Bob"), "bob", false));
    }

    #[test]
    fn other_criteria_are_named() {
        for (line, named) in [
            ("Match exec \"true\"", "Match exec"),
            ("Match originalhost a localuser bob", "Match localuser"),
            ("Match canonical", "Match canonical"),
            ("Match !all", "Match !all"),
            ("Match host", "needs a pattern"),
        ] {
            let err = UserConfig::from_text(
                &format!("Host a\n{line}\n"),
                Path::new("cfg"),
                Path::new("/h"),
            )
            .unwrap_err();
            let message = err.to_string();
            assert!(message.contains("cfg line 2"), "{message}");
            assert!(message.contains(named), "{line}: {message}");
        }
    }

    #[test]
    fn included_files_are_read_with_their_match_blocks() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("config.d")).unwrap();
        std::fs::write(
            ssh.join("config.d").join("10-cluster"),
            "Match originalhost login*\n  User carol\n",
        )
        .unwrap();
        std::fs::write(
            ssh.join("config"),
            "Host login1\n  Include config.d/*\n  Port 2022\nHost *\n  User dave\n",
        )
        .unwrap();
        let c = UserConfig::load(&ssh.join("config"), home.path()).unwrap();
        // The Include's Match block applies; the Port line after the Include
        // is still login1's, not the Match block's.
        assert_eq!(user_and_port(&c, "login1", None), ("carol".into(), 2022));
        assert_eq!(user_and_port(&c, "login2", None), ("carol".into(), 22));
        assert_eq!(user_and_port(&c, "x", None), ("dave".into(), 22));
    }

    #[test]
    fn an_include_loop_is_an_error() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("config"), "Include config\n").unwrap();
        let err = UserConfig::load(&ssh.join("config"), home.path()).unwrap_err();
        assert!(format!("{err:#}").contains("Include nested"), "{err:#}");
    }
}
