//! Looking at a job's files where they are, without fetching them: the
//! files matching globs, and the first or last bytes of several files in
//! one command (each file's size and modification time with them; a
//! follower reads again only the files whose size or time changed).

use anyhow::bail;
use base64::Engine;

use super::Server;
use crate::crimpl::job::JobFile;
use crate::crimpl::scripts;

/// Which part of a file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// At most this many bytes from its start.
    Head(u64),
    /// At most this many bytes from its end.
    Tail(u64),
}

/// One file to look at: its path, the part to read, and the size and time
/// it had when last read (`unless`): then its bytes are read only if
/// either changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// Its path in the job directory.
    pub path: String,
    /// What to read of it.
    pub part: Part,
    /// Read nothing if it still has this size and modification time.
    pub unless: Option<(u64, i64)>,
}

/// A file of a job as read for a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    /// Its path in the job directory.
    pub path: String,
    /// Its size now (`None`: it does not exist, or is not a regular file).
    pub size: Option<u64>,
    /// Its modification time (seconds since the epoch).
    pub modified: i64,
    /// The part read.
    pub bytes: Vec<u8>,
}

/// Ends each file's bytes in the answer.
const END: &str = "--crimpl-peek-end--";

impl Server {
    /// The job's files (not directories) whose paths match any of `patterns`
    /// (globs: `plots/*.png`, `task-*/result.csv`), in path order. A
    /// pattern leaving the job directory is refused.
    pub fn files_matching(&self, job: &str, patterns: &[String]) -> anyhow::Result<Vec<JobFile>> {
        let mut globs = Vec::new();
        for pattern in patterns {
            if pattern.starts_with('/') || pattern.split('/').any(|part| part == "..") {
                bail!("{pattern:?} is not a path inside the job directory");
            }
            globs.push(
                glob::Pattern::new(pattern.trim_start_matches("./"))
                    .map_err(|err| anyhow::anyhow!("{pattern:?} is not a usable glob: {err}"))?,
            );
        }
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..glob::MatchOptions::new()
        };
        let listing = self.ls(job, None, false)?;
        Ok(listing
            .files
            .into_iter()
            .filter(|f| !f.is_dir && globs.iter().any(|g| g.matches_with(&f.path, options)))
            .collect())
    }

    /// Look at the job's files, in one command.
    pub fn peek(&self, job: &str, looks: &[Look]) -> anyhow::Result<Vec<Peeked>> {
        let mut command = format!("cd {} || exit 3\n", self.job_dir(job)?);
        for look in looks {
            let read = match look.part {
                Part::Head(n) => format!("head -c {n} \"$f\" | base64"),
                Part::Tail(n) => format!("tail -c {n} \"$f\" | base64"),
            };
            let read = match look.unless {
                Some((size, modified)) => format!("[ \"$s $t\" = '{size} {modified}' ] || {read}"),
                None => read,
            };
            command.push_str(&format!(
                "f=./{}; if [ -f \"$f\" ]; then s=$(($(wc -c < \"$f\"))); t=$(date -r \"$f\" +%s); echo \"$s $t\"; {read}; else echo '- 0'; fi; echo {END}\n",
                scripts::quote(&look.path)?
            ));
        }
        let captured = self.transport(false, &|_| {})?.capture(&command, None)?;
        match captured.finished.code {
            Some(0) => read_peeks(&String::from_utf8_lossy(&captured.stdout), looks),
            Some(3) => Err(self.no_such_job(job)),
            _ => bail!(
                "reading job {job:?}'s files failed on server {}: {}",
                self.name,
                captured.finished.stderr.trim()
            ),
        }
    }
}

/// The answer of [`Server::peek`]'s command: per file a `SIZE TIME` line
/// (`- 0` when missing), its bytes in base64, and [`END`].
fn read_peeks(text: &str, looks: &[Look]) -> anyhow::Result<Vec<Peeked>> {
    let mut lines = text.lines();
    let mut peeked = Vec::with_capacity(looks.len());
    for Look { path, .. } in looks {
        let header = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("the answer about {path:?} was cut short"))?;
        let (size, modified) = header.trim().split_once(' ').unwrap_or((header, "0"));
        let mut encoded = String::new();
        for line in lines.by_ref() {
            if line == END {
                break;
            }
            encoded.push_str(line.trim());
        }
        peeked.push(Peeked {
            path: path.clone(),
            size: size.trim().parse().ok(),
            modified: modified.trim().parse().unwrap_or(0),
            bytes: base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|err| anyhow::anyhow!("the bytes of {path:?} came garbled: {err}"))?,
        });
    }
    Ok(peeked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_per_file_missing_ones_too() {
        let text = format!("5 1700000000\naGVsbG8=\n{END}\n- 0\n{END}\n3 1700000001\n{END}\n");
        let look = |path: &str| Look {
            path: path.into(),
            part: Part::Head(10),
            unless: None,
        };
        let parts = vec![look("a.txt"), look("gone"), look("b")];
        let peeked = read_peeks(&text, &parts).unwrap();
        assert_eq!(peeked[0].bytes, b"hello");
        assert_eq!(
            (peeked[0].size, peeked[0].modified),
            (Some(5), 1_700_000_000)
        );
        assert_eq!(peeked[1].size, None);
        assert_eq!((peeked[2].size, peeked[2].bytes.len()), (Some(3), 0));
    }

    #[test]
    fn a_cut_answer_is_an_error() {
        let parts = vec![Look {
            path: "a".into(),
            part: Part::Head(1),
            unless: None,
        }];
        assert!(read_peeks("", &parts).is_err());
    }
}
