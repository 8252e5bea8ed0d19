//! `~/.ssh/config` as OpenSSH reads it, on top of `ssh2-config`, which
//! knows neither `Match` (it would skip the `Match` line and apply the
//! block's settings to the host block above it) nor a `Match` inside an
//! `Include`d file: the fallback where no `ssh` client is installed (see
//! [`super::openssh_config`]). So `Include` lines are inlined here, and for
//! each host the `Match` blocks are evaluated (`all`, `host`,
//! `originalhost`, `user`, each may be negated with `!`, patterns are comma
//! lists with `*`, `?` and `!pattern`, as in ssh_config(5)): a matching
//! block becomes a `Host *` block, any other is left out. A criterion this
//! reader cannot evaluate (`exec`, `localuser`, `canonical`, ...) is an
//! error for the hosts its block may apply to (every other criterion of
//! the line holds), naming it, rather than applied to the wrong hosts; for
//! other hosts the block is simply left out.
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
    /// The start of an included file's lines, read only where the `Host`
    /// or `Match` line of the block holding the `Include` applies (as in
    /// OpenSSH: an `Include` inside a block is conditional).
    IncludedUnder(Box<Line>),
    /// The end of the included lines that [`Line::IncludedUnder`] started.
    EndIncluded,
}

#[derive(Debug, Clone, PartialEq)]
enum Criterion {
    All,
    /// One this reader cannot evaluate, as written (`exec "cmd"`, `final`).
    Unknown(String),
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
                if let Some(header) = &header {
                    self.lines
                        .push(Line::IncludedUnder(Box::new(header.clone())));
                }
                for pattern in rest.split_whitespace() {
                    for file in self.include_files(pattern).with_context(where_)? {
                        self.read(&file, depth + 1)?;
                    }
                }
                // The included file's own Host/Match lines end the block the
                // Include sat in: the rest of that block is its own again.
                if let Some(header) = &header {
                    self.lines.push(Line::EndIncluded);
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
        let text = self.text_for(facts)?;
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
    fn text_for(&self, facts: &Facts<'_>) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut skipping = false;
        // As OpenSSH, the first value of a keyword wins, also inside one
        // block (ssh2-config would keep the last).
        let mut seen = std::collections::HashSet::new();
        // Whether each enclosing conditional Include is read, innermost last.
        let mut included: Vec<bool> = Vec::new();
        for line in &self.lines {
            if included.contains(&false) {
                match line {
                    Line::IncludedUnder(_) => included.push(false),
                    Line::EndIncluded => {
                        included.pop();
                    }
                    _ => {}
                }
                continue;
            }
            match line {
                Line::IncludedUnder(header) => {
                    included.push(applies(header, facts)?);
                    continue;
                }
                Line::EndIncluded => {
                    included.pop();
                    continue;
                }
                Line::Host(text) => {
                    skipping = false;
                    seen.clear();
                    out.push_str(text);
                }
                Line::Match(_) => {
                    skipping = !applies(line, facts)?;
                    seen.clear();
                    if !skipping {
                        out.push_str("Host *");
                    }
                }
                Line::Other(text) if !skipping => {
                    let keyword = keyword_of(text);
                    if !keyword.is_empty()
                        && !MULTIPLE.contains(&keyword.as_str())
                        && !seen.insert(keyword)
                    {
                        continue;
                    }
                    out.push_str(text);
                }
                Line::Other(_) => continue,
            }
            out.push('\n');
        }
        Ok(out)
    }
}

/// Whether the block headed by `header` (a `Host` or `Match` line) applies
/// for `facts`; a `Match` whose criteria this reader cannot evaluate is an
/// error unless another of its criteria fails.
fn applies(header: &Line, facts: &Facts<'_>) -> anyhow::Result<bool> {
    let criteria = match header {
        Line::Host(text) => {
            let patterns: Vec<String> = text
                .trim()
                .split(|c: char| c.is_whitespace() || c == '=')
                .filter(|word| !word.is_empty())
                .skip(1)
                .map(str::to_string)
                .collect();
            return Ok(pattern_list_matches(&patterns, facts.original, true));
        }
        Line::Match(criteria) => criteria,
        _ => return Ok(true),
    };
    if criteria.iter().any(|c| c.holds(facts) == Some(false)) {
        return Ok(false);
    }
    if let Some(unknown) = criteria.iter().find_map(|c| match c {
        Criterion::Unknown(text) => Some(text),
        _ => None,
    }) {
        bail!(
            "`Match {unknown}` in ~/.ssh/config may apply to {:?}, and without an `ssh` client \
             this kernel cannot evaluate it: install OpenSSH's client (the kernel then resolves \
             hosts with `ssh -G`), or write those settings under a `Host` line",
            facts.original
        );
    }
    Ok(true)
}

/// Keywords whose every line counts (the others: the first one wins).
const MULTIPLE: [&str; 7] = [
    "identityfile",
    "certificatefile",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "sendenv",
    "setenv",
];

/// The keyword of a config line, lower case (`""` for blank and comment lines).
fn keyword_of(line: &str) -> String {
    let trimmed = line.trim();
    if trimmed.starts_with('#') {
        return String::new();
    }
    trimmed
        .split(|c: char| c.is_whitespace() || c == '=')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The criteria of a `Match` line (the words after `Match`).
fn parse_match(rest: &str) -> anyhow::Result<Vec<Criterion>> {
    // Arguments may be quoted (`exec "test -f ~/vpn"`), as OpenSSH reads them.
    let words: Vec<String> =
        shlex::split(rest).unwrap_or_else(|| rest.split_whitespace().map(str::to_string).collect());
    let mut criteria = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
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
            "all" | "canonical" | "final" => {
                criteria.push(Criterion::Unknown(word.to_string()));
                i += 1;
                continue;
            }
            _ => {
                let argument = words
                    .get(i + 1)
                    .map_or(String::new(), |a| format!(" {a:?}"));
                criteria.push(Criterion::Unknown(format!("{word}{argument}")));
                i += 2;
                continue;
            }
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
    /// Whether the criterion holds for `facts`; `None` when this reader
    /// cannot tell.
    fn holds(&self, facts: &Facts<'_>) -> Option<bool> {
        let (what, negated, patterns) = match self {
            Criterion::All => return Some(true),
            Criterion::Unknown(_) => return None,
            Criterion::Test {
                what,
                negated,
                patterns,
            } => (what, negated, patterns),
        };
        let (value, fold_case) = match what {
            Subject::OriginalHost => (Some(facts.original), true),
            Subject::Host => (facts.host, true),
            Subject::User => (facts.user, false),
        };
        // Unknown yet (the first reading): the block does not apply.
        let Some(value) = value else {
            return Some(false);
        };
        Some(pattern_list_matches(patterns, value, fold_case) != *negated)
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
    fn other_criteria_are_errors_only_for_the_hosts_they_may_apply_to() {
        for (line, named, unrelated) in [
            ("Match exec \"test -f x\"", "Match exec \"test -f x\"", None),
            (
                "Match originalhost a localuser bob",
                "Match localuser \"bob\"",
                Some("b"),
            ),
            ("Match canonical", "Match canonical", None),
            ("Match !all", "Match !all", None),
            ("Match host b* final", "Match final", Some("a")),
        ] {
            let config = config(&format!("Host a\n  Port 2\n{line}\n  Port 3\n"));
            let refused = match unrelated {
                Some(_) if line.contains("originalhost a") => "a",
                Some(_) => "bz",
                None => "a",
            };
            let message = config.params(refused, None).unwrap_err().to_string();
            assert!(message.contains(named), "{line}: {message}");
            assert!(message.contains(&format!("{refused:?}")), "{message}");
            if let Some(host) = unrelated {
                assert!(config.params(host, None).is_ok(), "{line} for {host}");
            }
        }
        let err = UserConfig::from_text("Host a\nMatch host\n", Path::new("cfg"), Path::new("/h"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cfg line 2") && err.contains("needs a pattern"),
            "{err}"
        );
    }

    #[test]
    fn the_first_value_in_a_block_wins_as_in_openssh() {
        let config = config(
            "Host a\n  Port 2201\n  Port 2202\n  IdentityFile /k1\n  IdentityFile /k2\nHost *\n  Port 2203\n",
        );
        let params = config.params("a", None).unwrap();
        assert_eq!(params.port, Some(2201));
        assert_eq!(
            params.identity_file,
            Some(vec![PathBuf::from("/k1"), PathBuf::from("/k2")])
        );
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
        // is still login1's, not the Match block's. An Include inside a
        // `Host` block is read only for that block's hosts (`ssh -G login2`
        // says dave).
        assert_eq!(user_and_port(&c, "login1", None), ("carol".into(), 2022));
        assert_eq!(user_and_port(&c, "login2", None), ("dave".into(), 22));
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
