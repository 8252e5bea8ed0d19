//! A job's manifest, `crimpl-job.json` in its directory: what determines its
//! run (the digest and its parts: the script, the inputs' contents, the
//! options, the server), who submitted it and when, each attempt, and, once
//! it ended, how it ended and each output file's size and sha256.
//!
//! Two submits with the same digest would run the same thing in the same
//! place: a named submit whose digest matches the existing job's reattaches
//! to it instead of making a new one. crimpl 0.2.0 ignores the file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name in the job directory.
pub const MANIFEST_FILE: &str = "crimpl-job.json";

/// The manifest format this kernel writes (and reads, with any older one).
pub const MANIFEST_FORMAT: u32 = 1;

/// What a job ran and, once it ended, what it made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format version ([`MANIFEST_FORMAT`]).
    pub format: u32,
    /// sha256 of the parts below that determine the run.
    pub digest: String,
    /// sha256 of the script (the cell body, without blank space at its end).
    pub script_sha256: String,
    /// Each `--files` input.
    pub inputs: Vec<FileDigest>,
    /// The options that change how or where the job runs, by name.
    pub options: BTreeMap<String, String>,
    /// Where it runs.
    pub server: ServerIdentity,
    /// Who submitted it: `user@host`.
    pub submitted_by: String,
    /// The kernel that submitted it.
    pub kernel_version: String,
    /// When it was first submitted (UTC, RFC 3339).
    pub submitted_at: String,
    /// Each time it was started: the first submit and every run since.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Where the placement put it: on AWS, the job instance's id, type and
    /// image (`aws_instance_id`, `aws_instance_type`, `aws_image_id`) and a
    /// sweep's helpers (`aws_helper_ids`). Not part of the digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub placement: BTreeMap<String, String>,
    /// How it ended, recorded once the job has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<JobEnd>,
}

/// A file's name (in the job directory), size and content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Its path in the job directory.
    pub name: String,
    /// Its size in bytes (a directory's: all its files').
    pub size: u64,
    /// sha256 of its content (a directory's: of its files' paths and hashes).
    pub sha256: String,
}

/// The server a job runs on, as far as its identity goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerIdentity {
    /// `local`, `ssh`, `slurm` or `aws`.
    pub kind: String,
    /// The host as configured (an ssh alias), or where commands run.
    pub host: String,
    /// The server directory.
    pub directory: String,
}

/// One start of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1, 2, ...
    pub number: u32,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// Why: `submitted`, `resumed: 3 tasks that did not complete`, `--rerun`, ...
    pub why: String,
    /// How the job had ended before this attempt (none for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// How a job ended and what it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnd {
    /// Its final status (`complete`, `failed (exit code 3)`, `timeout`, ...).
    pub status: String,
    /// The script's exit code, when one was recorded.
    pub exit_code: Option<i32>,
    /// UTC start time.
    pub started: Option<String>,
    /// UTC end time.
    pub ended: Option<String>,
    /// What the scheduler knows of it (`slurm_id`, `attempt`, an array's task counts).
    pub scheduler: BTreeMap<String, String>,
    /// Each output file, hashed on the server.
    pub outputs: Vec<FileDigest>,
}

impl Manifest {
    /// A manifest for a new submit: the digest of the parts, submitted now
    /// by this user on this machine.
    pub fn new(
        script: &str,
        inputs: Vec<FileDigest>,
        options: BTreeMap<String, String>,
        server: ServerIdentity,
    ) -> Self {
        // Blank space at the end of a cell changes nothing that runs.
        let script_sha256 = sha256_hex(script.trim_end().as_bytes());
        let digest = digest_of(&script_sha256, &inputs, &options, &server);
        let now = now_utc();
        Self {
            format: MANIFEST_FORMAT,
            digest,
            script_sha256,
            inputs,
            options,
            server,
            submitted_by: format!(
                "{}@{}",
                whoami::username().unwrap_or_else(|_| "unknown".into()),
                whoami::hostname().unwrap_or_else(|_| "unknown".into())
            ),
            kernel_version: env!("CARGO_PKG_VERSION").into(),
            submitted_at: now.clone(),
            attempts: vec![Attempt {
                number: 1,
                at: now,
                why: "submitted".into(),
                after: None,
            }],
            placement: BTreeMap::new(),
            end: None,
        }
    }

    /// Read a manifest; an error names what is wrong with it.
    pub fn parse(text: &[u8]) -> anyhow::Result<Self> {
        let manifest: Self = serde_json::from_slice(text).context("the job's manifest")?;
        if manifest.format > MANIFEST_FORMAT {
            anyhow::bail!(
                "the job's manifest has format {}, newer than this kernel's {MANIFEST_FORMAT}: update crimpl-kernel",
                manifest.format
            );
        }
        Ok(manifest)
    }

    /// The manifest as written in the job directory.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Record one more start, after the job had ended `after` (the
    /// manifest's end is cleared until this attempt ends).
    pub fn add_attempt(&mut self, why: &str, after: String) {
        self.end = None;
        self.attempts.push(Attempt {
            number: self.attempts.len() as u32 + 1,
            at: now_utc(),
            why: why.into(),
            after: Some(after),
        });
    }

    /// What differs between this (existing) job's parts and `new`'s, one
    /// line each; `old_script` and `new_script` are compared line by line.
    pub fn changes(
        &self,
        new: &Manifest,
        old_script: Option<&str>,
        new_script: &str,
    ) -> Vec<String> {
        let mut changes = Vec::new();
        if self.script_sha256 != new.script_sha256 {
            changes.push(match old_script {
                Some(old) => format!("the script: {} differ", lines_differing(old, new_script)),
                None => "the script".into(),
            });
        }
        let old_inputs: BTreeMap<&str, &FileDigest> =
            self.inputs.iter().map(|f| (f.name.as_str(), f)).collect();
        let new_inputs: BTreeMap<&str, &FileDigest> =
            new.inputs.iter().map(|f| (f.name.as_str(), f)).collect();
        for (name, file) in &new_inputs {
            match old_inputs.get(name) {
                None => changes.push(format!("input {name}: new")),
                Some(old) if old.sha256 != file.sha256 => {
                    changes.push(format!("input {name}: its content changed"))
                }
                Some(_) => {}
            }
        }
        for name in old_inputs.keys().filter(|n| !new_inputs.contains_key(*n)) {
            changes.push(format!("input {name}: no longer sent"));
        }
        let keys: std::collections::BTreeSet<&String> =
            self.options.keys().chain(new.options.keys()).collect();
        for key in keys {
            let (old, new) = (self.options.get(key), new.options.get(key));
            if old != new {
                let shown = |v: Option<&String>| v.map_or("(not set)".to_string(), |v| v.clone());
                changes.push(format!("--{key}: {} -> {}", shown(old), shown(new)));
            }
        }
        if self.server != new.server {
            changes.push(format!(
                "the server: {} {} {} -> {} {} {}",
                self.server.kind,
                self.server.host,
                self.server.directory,
                new.server.kind,
                new.server.host,
                new.server.directory
            ));
        }
        changes
    }
}

/// The digest of a run's parts.
fn digest_of(
    script_sha256: &str,
    inputs: &[FileDigest],
    options: &BTreeMap<String, String>,
    server: &ServerIdentity,
) -> String {
    let inputs: Vec<(&str, &str)> = inputs
        .iter()
        .map(|f| (f.name.as_str(), f.sha256.as_str()))
        .collect();
    let parts = serde_json::json!({
        "script": script_sha256,
        "inputs": inputs,
        "options": options,
        "server": server,
    });
    sha256_hex(parts.to_string().as_bytes())
}

/// "1 line" or "N lines": the lines of `new` not in `old` and of `old` not
/// in `new` (blank space at the ends left out, as in the digest).
fn lines_differing(old: &str, new: &str) -> String {
    let (old, new) = (
        format!("{}\n", old.trim_end()),
        format!("{}\n", new.trim_end()),
    );
    let diff = similar::TextDiff::from_lines(&old, &new);
    let count = diff
        .iter_all_changes()
        .filter(|change| change.tag() != similar::ChangeTag::Equal)
        .count();
    match count {
        1 => "1 line".into(),
        n => format!("{n} lines"),
    }
}

/// An input's digest: a file's content, or a directory's files (their
/// paths and contents, in name order; links by their target).
pub fn hash_input(name: &str, path: &Path) -> anyhow::Result<FileDigest> {
    if !path.is_dir() {
        let (size, sha256) = hash_file(path)?;
        return Ok(FileDigest {
            name: name.into(),
            size,
            sha256,
        });
    }
    let mut listing = Sha256::new();
    let mut total = 0;
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.with_context(|| format!("reading {}", path.display()))?;
        let relative = entry.path().strip_prefix(path).unwrap_or(entry.path());
        let line = if entry.file_type().is_file() {
            let (size, sha256) = hash_file(entry.path())?;
            total += size;
            format!("file {sha256} {}\n", relative.display())
        } else if entry.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            format!("link {} {}\n", target.display(), relative.display())
        } else {
            format!("dir {}\n", relative.display())
        };
        listing.update(line.as_bytes());
    }
    Ok(FileDigest {
        name: name.into(),
        size: total,
        sha256: hex::encode(listing.finalize()),
    })
}

/// A file's size and sha256, read in pieces.
fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot read {} to hash it", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    let mut size = 0;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// sha256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A local file's sha256, in hex (to check a fetched output).
pub fn file_sha256(path: &Path) -> anyhow::Result<String> {
    hash_file(path).map(|(_, sha256)| sha256)
}

/// Now, in UTC, as RFC 3339.
fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerIdentity {
        ServerIdentity {
            kind: "ssh".into(),
            host: "hpc".into(),
            directory: "~/crimpl".into(),
        }
    }

    fn input(name: &str, sha: &str) -> FileDigest {
        FileDigest {
            name: name.into(),
            size: 1,
            sha256: sha.into(),
        }
    }

    #[test]
    fn the_digest_depends_on_what_runs_and_not_on_when() {
        let options = BTreeMap::from([("nprocs".to_string(), "4".to_string())]);
        let a = Manifest::new(
            "echo hi\n",
            vec![input("d", "aa")],
            options.clone(),
            server(),
        );
        let b = Manifest::new(
            "echo hi\n",
            vec![input("d", "aa")],
            options.clone(),
            server(),
        );
        assert_eq!(a.digest, b.digest);
        let other_script = Manifest::new(
            "echo ho\n",
            vec![input("d", "aa")],
            options.clone(),
            server(),
        );
        let other_input = Manifest::new(
            "echo hi\n",
            vec![input("d", "ab")],
            options.clone(),
            server(),
        );
        let other_option = Manifest::new(
            "echo hi\n",
            vec![input("d", "aa")],
            BTreeMap::new(),
            server(),
        );
        for other in [&other_script, &other_input, &other_option] {
            assert_ne!(a.digest, other.digest);
        }
    }

    #[test]
    fn changes_say_what_differs() {
        let old = Manifest::new(
            "a\nb\nc\n",
            vec![input("data.csv", "aa"), input("gone.txt", "cc")],
            BTreeMap::from([("walltime".to_string(), "1:00:00".to_string())]),
            server(),
        );
        let new = Manifest::new(
            "a\nB\nc\n",
            vec![input("data.csv", "ab")],
            BTreeMap::from([("walltime".to_string(), "2:00:00".to_string())]),
            server(),
        );
        let changes = new_changes(&old, &new);
        assert_eq!(
            changes,
            vec![
                "the script: 2 lines differ",
                "input data.csv: its content changed",
                "input gone.txt: no longer sent",
                "--walltime: 1:00:00 -> 2:00:00",
            ]
        );
    }

    fn new_changes(old: &Manifest, new: &Manifest) -> Vec<String> {
        old.changes(new, Some("a\nb\nc\n"), "a\nB\nc\n")
    }

    #[test]
    fn attempts_keep_how_the_previous_one_ended() {
        let mut manifest = Manifest::new("true\n", vec![], BTreeMap::new(), server());
        manifest.end = Some(JobEnd {
            status: "failed (exit code 1)".into(),
            exit_code: Some(1),
            started: None,
            ended: None,
            scheduler: BTreeMap::new(),
            outputs: vec![],
        });
        manifest.add_attempt("resumed", "failed (exit code 1)".into());
        assert_eq!(manifest.attempts.len(), 2);
        assert_eq!(
            manifest.attempts[1].after.as_deref(),
            Some("failed (exit code 1)")
        );
        assert!(manifest.end.is_none());
        let read = Manifest::parse(manifest.to_json().as_bytes()).unwrap();
        assert_eq!(read, manifest);
    }

    #[test]
    fn a_newer_format_is_refused_with_what_to_do() {
        let mut manifest = Manifest::new("true\n", vec![], BTreeMap::new(), server());
        manifest.format = MANIFEST_FORMAT + 1;
        let err = Manifest::parse(manifest.to_json().as_bytes()).unwrap_err();
        assert!(format!("{err:#}").contains("update crimpl-kernel"));
    }

    #[test]
    fn a_directory_input_is_hashed_by_its_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x"), "1").unwrap();
        let first = hash_input("d", dir.path()).unwrap();
        std::fs::write(dir.path().join("sub/x"), "2").unwrap();
        let second = hash_input("d", dir.path()).unwrap();
        assert_ne!(first.sha256, second.sha256);
        assert_eq!(second.size, 1);
    }
}
