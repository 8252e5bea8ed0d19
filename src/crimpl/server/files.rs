//! A job's files: its log (or the end of it kept on this machine), the
//! listing of its directory, an array's task outputs, and fetching them
//! (safely unpacked).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::Server;
use crate::crimpl::array_files::{TaskOutputs, read_task_outputs};
use crate::crimpl::error::EngineError;
use crate::crimpl::job::{FileRole, JobFile, Listing, read_listing};
use crate::crimpl::kept_log::KeptLog;
use crate::crimpl::layout::TASK_LIST;
use crate::crimpl::progress::Progress;
use crate::crimpl::scripts;
use crate::crimpl::transport::Transport;
use crate::crimpl::unpack::{self, FetchReport, UnpackPolicy};

impl Server {
    /// At most `max_bytes` of the job's log from byte `offset` on: a log of
    /// any size is read in pieces, never whole.
    pub fn log(
        &self,
        job: &str,
        kind: scripts::LogKind,
        offset: u64,
        max_bytes: u64,
    ) -> anyhow::Result<Vec<u8>> {
        if let Some(kept) = self.kept_log(job, kind) {
            return Ok(kept.read(offset, max_bytes));
        }
        let command = scripts::read_log(&self.job_dir(job)?, kind, offset, max_bytes);
        self.transport(false, &|_| {})?
            .check(&command, None, "reading the job log")
            .map_err(|err| self.unless_missing(job, err))
    }

    /// The end of the job's own log kept on this machine, if its machine
    /// ended after the job (then the log cannot grow any more).
    pub(super) fn kept_log(&self, job: &str, kind: scripts::LogKind) -> Option<KeptLog> {
        (kind == scripts::LogKind::Job)
            .then(|| self.placement.kept_log(job))
            .flatten()
    }

    /// The byte offset where the last `lines` lines of the job's log start.
    pub fn log_tail_offset(
        &self,
        job: &str,
        kind: scripts::LogKind,
        lines: usize,
    ) -> anyhow::Result<u64> {
        if let Some(kept) = self.kept_log(job, kind) {
            return Ok(kept.tail_offset(lines));
        }
        let command = scripts::log_tail_offset(&self.job_dir(job)?, kind, lines);
        let said = self
            .transport(false, &|_| {})?
            .check(&command, None, "reading the job log")
            .map_err(|err| self.unless_missing(job, err))?;
        String::from_utf8_lossy(&said)
            .trim()
            .parse()
            .context("unexpected answer reading the job log's size")
    }

    /// The job's files, marked input, output or crimpl: the first `limit`
    /// entries (all with `None`, or only the top level with `top_level`),
    /// and totals for all. Read as it arrives, in bounded memory.
    pub fn ls(&self, job: &str, limit: Option<usize>, top_level: bool) -> anyhow::Result<Listing> {
        self.read_files(job, top_level.then_some(1), |reader| {
            read_listing(reader, limit)
        })
    }

    /// Whether the job is an array (one short command).
    pub fn is_array(&self, job: &str) -> anyhow::Result<bool> {
        let command = scripts::is_array(&self.job_dir(job)?);
        let finished = self
            .transport(false, &|_| {})?
            .exec(&command, None, &mut |_| Ok(()))?;
        match finished.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            Some(3) => Err(self.no_such_job(job)),
            _ => bail!(
                "asking whether job {job:?} is an array failed on server {}: {}",
                self.name,
                finished.stderr.trim()
            ),
        }
    }

    /// An array's own files and what its tasks wrote, summarised (one pass over its files).
    pub fn task_outputs(&self, job: &str) -> anyhow::Result<TaskOutputs> {
        self.read_files(job, None, |reader| read_task_outputs(reader))
    }

    /// Read the job's files (to `depth` levels) with `read`, as they are listed.
    pub(super) fn read_files<T>(
        &self,
        job: &str,
        depth: Option<u32>,
        read: impl FnOnce(std::io::BufReader<&mut dyn std::io::Read>) -> std::io::Result<T>,
    ) -> anyhow::Result<T> {
        let command = scripts::list_files(&self.job_dir(job)?, depth);
        let mut read = Some(read);
        let mut result = None;
        let finished = self
            .transport(false, &|_| {})?
            .exec(&command, None, &mut |reader| {
                if let Some(read) = read.take() {
                    result = Some(read(std::io::BufReader::new(reader))?);
                }
                Ok(())
            })?;
        match (finished.code, result) {
            (Some(3), _) => Err(self.no_such_job(job)),
            (Some(0), Some(result)) => Ok(result),
            _ => bail!(
                "listing job {job:?} failed on server {}: {}",
                self.name,
                finished.stderr.trim()
            ),
        }
    }

    /// Fetch `paths` of the job (default: its output files; an array's, in
    /// one folder per task, `task-0007/`) into `target`, checked against
    /// the job's manifest, which is written beside them (`.crimpl/JOB.json`).
    /// Hidden files are left out (and counted) unless named or `policy.hidden`.
    pub fn fetch(
        &self,
        job: &str,
        paths: &[String],
        target: &Path,
        mut policy: UnpackPolicy,
        progress: Progress<'_>,
    ) -> anyhow::Result<FetchReport> {
        // On AWS with no instance running, the server instance is started to reach the volume.
        let transport = self.transport(true, progress)?;
        let mut hidden_at_top = Vec::new();
        if policy.strip_first_part && !paths.is_empty() {
            return Err(EngineError::Usage(
                "--merge gathers all of an array's outputs: name paths, or --merge, not both"
                    .into(),
            )
            .into());
        }
        let names: Vec<String> = if paths.is_empty() {
            let mut listing = self.ls(job, None, true)?;
            let array = listing.files.iter().any(|f| f.path == TASK_LIST);
            if array {
                // An array: each task's own outputs, in its task directory.
                listing = self.ls(job, None, false)?;
                listing.files.retain(|f| !f.is_dir);
            } else if policy.strip_first_part {
                return Err(EngineError::Usage(format!(
                    "job {job} is not an array: --merge gathers an array's tasks' outputs into one folder"
                ))
                .into());
            }
            let outputs = listing
                .files
                .into_iter()
                .filter(|f| f.role == FileRole::Output);
            let hidden = |f: &JobFile| f.path.split('/').any(|part| part.starts_with('.'));
            let (hidden, shown): (Vec<JobFile>, Vec<JobFile>) =
                outputs.partition(|f| !policy.hidden && hidden(f));
            hidden_at_top = hidden.into_iter().map(|f| PathBuf::from(f.path)).collect();
            let names: Vec<String> = shown.into_iter().map(|f| f.path).collect();
            if policy.strip_first_part {
                merge_clash(&names)?;
            }
            names
        } else {
            for path in paths {
                if path.split('/').any(|part| part == "..") || path.starts_with('/') {
                    bail!("{path:?} is not a path inside the job directory");
                }
            }
            policy.named = paths.iter().map(PathBuf::from).collect();
            paths.to_vec()
        };
        let merged = policy.strip_first_part;
        let mut report = if names.is_empty() {
            FetchReport::default()
        } else {
            self.receive(&transport, job, &names, target, policy)?
        };
        self.record_provenance(job, target, merged, &mut report)?;
        report.hidden_left_out += hidden_at_top.len();
        let room = 5usize.saturating_sub(report.hidden_examples.len());
        report
            .hidden_examples
            .extend(hidden_at_top.into_iter().take(room));
        Ok(report)
    }

    /// Receive `names` of the job as one tar stream and unpack it into `target`.
    pub(super) fn receive(
        &self,
        transport: &Arc<dyn Transport>,
        job: &str,
        names: &[String],
        target: &Path,
        policy: UnpackPolicy,
    ) -> anyhow::Result<FetchReport> {
        let command = scripts::tar_files(&self.job_dir(job)?, names)?;
        // Receiving (decryption, for SSH) and unpacking (disk writes) run on
        // two threads joined by a pipe, so a large fetch uses both cores.
        let (pipe_out, mut pipe_in) = std::io::pipe().context("cannot create a pipe")?;
        unpack::widen_pipe(&pipe_in);
        let destination = target.to_path_buf();
        let unpacker = std::thread::spawn(move || {
            let reader = std::io::BufReader::with_capacity(1 << 20, pipe_out);
            unpack::unpack_stream(reader, &destination, &policy)
        });
        let received = transport.exec(&command, None, &mut |reader| {
            unpack::copy(reader, &mut pipe_in).map(|_| ())
        });
        drop(pipe_in);
        // What the unpacking found wrong says more than the broken pipe it
        // leaves the sender with.
        let report = unpacker
            .join()
            .map_err(|_| anyhow::anyhow!("the unpacking thread failed"))??;
        let finished = received?;
        if !finished.success() {
            let err = anyhow::anyhow!(
                "fetching from job {job:?} failed: {}",
                finished.stderr.trim()
            );
            return Err(self.unless_missing(job, err));
        }
        Ok(report)
    }
}

/// Refuse to merge an array's outputs when two tasks wrote the same path
/// (`task-0001/out.txt` and `task-0002/out.txt`): one would hide the other.
fn merge_clash(names: &[String]) -> Result<(), EngineError> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    let mut first_writer: std::collections::HashMap<&str, &str> = Default::default();
    for name in sorted {
        let Some((task, path)) = name.split_once('/') else {
            continue;
        };
        if let Some(other) = first_writer.insert(path, task) {
            return Err(EngineError::Usage(format!(
                "{other} and {task} both wrote {path:?}, so their outputs cannot share one folder: \
                 fetch without --merge (a folder per task)"
            )));
        }
    }
    Ok(())
}
