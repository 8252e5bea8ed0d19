//! Job logs kept on this machine when the machine holding them ends: an
//! EC2 job instance is terminated as soon as its job's end is seen, and its
//! volume can then be read only by starting another instance. The end of
//! the log (at most [`KEPT_BYTES`]) is kept first, beside the server
//! registry, so the log of a finished job reads without starting anything.

use std::path::PathBuf;

use anyhow::Context;

use crate::private_files;

/// The most bytes of a log kept: its end, where a job says how it went.
pub const KEPT_BYTES: u64 = 4 << 20;

/// The kept logs of one store (an EBS volume's jobs).
pub struct KeptLogs {
    dir: PathBuf,
}

/// The kept end of one job's log: the bytes from `start` to its end.
#[derive(Debug, PartialEq)]
pub struct KeptLog {
    /// Where in the whole log the kept bytes start.
    pub start: u64,
    /// The log's last bytes.
    pub bytes: Vec<u8>,
}

impl KeptLogs {
    /// The kept logs in `dir` (its caller's choice: one directory per
    /// volume, beside the server registry).
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, job: &str) -> PathBuf {
        self.dir.join(format!("{job}.log"))
    }

    /// Keep `log` as job `job`'s (job names are plain file names). The
    /// file starts with the offset of the kept bytes on a line of its own.
    pub fn keep(&self, job: &str, log: &KeptLog) -> anyhow::Result<()> {
        let path = self.path(job);
        let mut contents = format!("{}\n", log.start).into_bytes();
        contents.extend_from_slice(&log.bytes);
        // Written whole, private to the user (a job's log may hold anything).
        private_files::write(&path, &contents)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The kept log of `job`, if one was kept.
    pub fn get(&self, job: &str) -> Option<KeptLog> {
        let contents = std::fs::read(self.path(job)).ok()?;
        let newline = contents.iter().position(|&b| b == b'\n')?;
        let start = std::str::from_utf8(&contents[..newline])
            .ok()?
            .parse()
            .ok()?;
        Some(KeptLog {
            start,
            bytes: contents[newline + 1..].to_vec(),
        })
    }

    /// Forget every kept log (the store is deleted).
    pub fn forget(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl KeptLog {
    /// Read what `wc -c; tail -c N` printed: the log's size on the first
    /// line, then its last bytes.
    pub fn from_size_and_tail(said: &[u8]) -> anyhow::Result<Self> {
        let newline = said
            .iter()
            .position(|&b| b == b'\n')
            .context("no log size in the answer")?;
        let size: u64 = String::from_utf8_lossy(&said[..newline])
            .trim()
            .parse()
            .context("unexpected log size in the answer")?;
        let bytes = said[newline + 1..].to_vec();
        Ok(Self {
            start: size.saturating_sub(bytes.len() as u64),
            bytes,
        })
    }

    /// At most `max_bytes` from byte `offset` of the whole log on (from the
    /// first kept byte if `offset` is before it).
    pub fn read(&self, offset: u64, max_bytes: u64) -> Vec<u8> {
        let from = offset
            .saturating_sub(self.start)
            .min(self.bytes.len() as u64) as usize;
        let to = (from as u64 + max_bytes).min(self.bytes.len() as u64) as usize;
        self.bytes[from..to].to_vec()
    }

    /// The offset where the last `lines` lines start (at most the kept ones).
    pub fn tail_offset(&self, lines: usize) -> u64 {
        // A last line without its newline counts as a line, as for `tail -n`.
        let body = self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes);
        let from = if lines == 0 {
            self.bytes.len()
        } else {
            body.iter()
                .enumerate()
                .rev()
                .filter(|(_, b)| **b == b'\n')
                .nth(lines - 1)
                .map_or(0, |(at, _)| at + 1)
        };
        self.start + from as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_log_reads_like_the_whole_log_from_where_it_starts() {
        let log = KeptLog::from_size_and_tail(b"  12\nc\nd\ne\n").unwrap();
        assert_eq!(log.start, 6);
        assert_eq!(log.read(6, 100), b"c\nd\ne\n");
        assert_eq!(log.read(8, 2), b"d\n");
        assert_eq!(
            log.read(0, 2),
            b"c\n",
            "bytes not kept: from the first kept one"
        );
        assert!(log.read(12, 100).is_empty());
        assert!(log.read(40, 100).is_empty());
        assert_eq!(log.tail_offset(2), 8);
        assert_eq!(log.tail_offset(0), 12);
        assert_eq!(log.tail_offset(10), 6);
        let unfinished = KeptLog::from_size_and_tail(b"4\na\nbc").unwrap();
        assert_eq!(unfinished.tail_offset(1), 2);
        assert!(KeptLog::from_size_and_tail(b"no size").is_err());
        assert!(KeptLog::from_size_and_tail(b"x\nabc").is_err());
    }

    #[test]
    fn kept_logs_survive_a_new_reader_and_are_forgotten_with_their_store() {
        let dir = tempfile::tempdir().unwrap();
        let logs = KeptLogs {
            dir: dir.path().join("vol-1"),
        };
        assert_eq!(logs.get("fit"), None);
        let log = KeptLog {
            start: 3,
            bytes: b"line\n\xff\n".to_vec(),
        };
        logs.keep("fit", &log).unwrap();
        let mode = |path: &std::path::Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&logs.path("fit")), 0o600);
        assert_eq!(mode(&logs.dir), 0o700);
        let again = KeptLogs {
            dir: dir.path().join("vol-1"),
        };
        assert_eq!(again.get("fit"), Some(log));
        again.forget();
        assert_eq!(logs.get("fit"), None);
    }
}
