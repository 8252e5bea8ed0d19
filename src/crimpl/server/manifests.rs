//! A job's manifest on the server: made for a submit, read, rewritten when
//! the job starts again, and completed once the job has ended (its end, and
//! each output's size and sha256, computed on the server).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::Server;
use super::entries::uploads;
use super::options::SubmitOptions;
use crate::crimpl::job::JobRecord;
use crate::crimpl::layout::EXIT_CODE_FILE;
use crate::crimpl::manifest::{
    FileDigest, JobEnd, MANIFEST_FILE, Manifest, ServerIdentity, file_sha256, hash_input,
};
use crate::crimpl::status::JobStatus;
use crate::crimpl::transport::StdinFeed;
use crate::crimpl::unpack::FetchReport;

/// What a job directory holds of a manifest.
pub enum Stored {
    /// There is no such job.
    NoJob,
    /// A job without a manifest (crimpl 0.2.0's, or an older kernel's).
    NoManifest,
    /// The job's manifest.
    Manifest(Box<Manifest>),
}

/// Exit code of a manifest read when the job directory is missing.
const NO_JOB: i32 = 3;
/// Exit code of a manifest read when the job has no manifest.
const NO_MANIFEST: i32 = 4;

impl Server {
    /// The manifest a submit of `script` with `options` would write.
    pub(super) fn manifest_for(
        &self,
        script: &str,
        options: &SubmitOptions,
    ) -> anyhow::Result<Manifest> {
        let inputs = uploads(&options.files)?
            .into_iter()
            .filter_map(|entry| entry.path.map(|path| (entry.name, path)))
            .map(|(name, path)| hash_input(&name, &path))
            .collect::<anyhow::Result<Vec<FileDigest>>>()?;
        Ok(Manifest::new(
            script,
            inputs,
            options.identity()?,
            self.identity(),
        ))
    }

    /// The server, as far as a job's identity goes.
    fn identity(&self) -> ServerIdentity {
        ServerIdentity {
            kind: self.config.kind().into(),
            host: self
                .config
                .host()
                .map_or_else(|| self.describe(), str::to_string),
            directory: self.directory().into(),
        }
    }

    /// What job `job`'s directory holds of a manifest (one short command).
    pub fn stored_manifest(&self, job: &str) -> anyhow::Result<Stored> {
        let command = format!(
            "cd {} 2>/dev/null || exit {NO_JOB}; cat {MANIFEST_FILE} 2>/dev/null || exit {NO_MANIFEST}",
            self.job_dir(job)?
        );
        let captured = self.transport(false, &|_| {})?.capture(&command, None)?;
        match captured.finished.code {
            Some(0) => Ok(Stored::Manifest(Box::new(Manifest::parse(
                &captured.stdout,
            )?))),
            Some(NO_JOB) => Ok(Stored::NoJob),
            Some(NO_MANIFEST) => Ok(Stored::NoManifest),
            _ => bail!(
                "reading job {job:?}'s manifest failed on server {}: {}",
                self.name,
                captured.finished.stderr.trim()
            ),
        }
    }

    /// Replace job `job`'s manifest with `manifest`.
    pub(super) fn write_manifest(&self, job: &str, manifest: &Manifest) -> anyhow::Result<()> {
        let command = format!(
            "cd {} && cat > {MANIFEST_FILE}.tmp && mv -f {MANIFEST_FILE}.tmp {MANIFEST_FILE}",
            self.job_dir(job)?
        );
        let json = manifest.to_json();
        let feed: StdinFeed<'_> = Box::new(move |w: &mut dyn Write| w.write_all(json.as_bytes()));
        self.transport(false, &|_| {})?.check(
            &command,
            Some(feed),
            &format!("writing job {job:?}'s manifest"),
        )?;
        Ok(())
    }

    /// Say in job `job`'s manifest (if it has one) that it started again,
    /// `why`, after it had ended `after`.
    pub(super) fn record_attempt(&self, job: &str, why: &str, after: String) -> anyhow::Result<()> {
        if let Stored::Manifest(mut manifest) = self.stored_manifest(job)? {
            manifest.add_attempt(why, after);
            self.write_manifest(job, &manifest)?;
        }
        Ok(())
    }

    /// Job `job`'s manifest (`None` for a job without one), its end
    /// recorded (and written back) once the job has ended.
    pub fn manifest(&self, job: &str) -> anyhow::Result<Option<Manifest>> {
        let mut manifest = match self.stored_manifest(job)? {
            Stored::NoJob => return Err(self.no_such_job(job)),
            Stored::NoManifest => return Ok(None),
            Stored::Manifest(manifest) => *manifest,
        };
        if manifest.end.is_none() {
            let record = self.job(job)?;
            if record.status.is_final() {
                manifest.end = Some(self.job_end(job, &record, &manifest)?);
                self.write_manifest(job, &manifest)?;
            }
        }
        Ok(Some(manifest))
    }

    /// How the ended job `job` ended, and its outputs, hashed on the server.
    fn job_end(
        &self,
        job: &str,
        record: &JobRecord,
        manifest: &Manifest,
    ) -> anyhow::Result<JobEnd> {
        let command = format!(
            "cd {} || exit {NO_JOB}; cat {EXIT_CODE_FILE} 2>/dev/null; echo; echo {SUMS}; \
             find . -type f ! -name 'crimpl*' -exec sh -c 'sha256sum \"$@\" 2>/dev/null || shasum -a 256 \"$@\"' sh {{}} + && \
             echo {SIZES} && find . -type f ! -name 'crimpl*' -exec wc -c {{}} +",
            self.job_dir(job)?
        );
        let captured = self.transport(false, &|_| {})?.capture(&command, None)?;
        if !captured.finished.success() {
            bail!(
                "hashing job {job:?}'s outputs failed on server {}: {}",
                self.name,
                captured.finished.stderr.trim()
            );
        }
        let text = String::from_utf8_lossy(&captured.stdout);
        let inputs: Vec<&str> = manifest.inputs.iter().map(|f| f.name.as_str()).collect();
        let (exit_code, outputs) = read_outputs(&text, &inputs);
        let mut scheduler = BTreeMap::new();
        if let Some(id) = &record.slurm_id {
            scheduler.insert("slurm_id".into(), id.clone());
        }
        if let Some(attempt) = record.attempt {
            scheduler.insert("attempt".into(), attempt.to_string());
        }
        if !record.tasks.is_empty() {
            let complete = record
                .tasks
                .iter()
                .filter(|t| t.status == JobStatus::Complete)
                .count();
            scheduler.insert(
                "tasks".into(),
                format!("{complete} of {} complete", record.tasks.len()),
            );
        }
        Ok(JobEnd {
            status: record.shown(),
            exit_code: exit_code.or(match record.status {
                JobStatus::Failed(code) => code,
                JobStatus::Complete => Some(0),
                _ => None,
            }),
            started: record.started.clone(),
            ended: record.ended.clone(),
            scheduler,
            outputs,
        })
    }
}

impl Server {
    /// After a fetch of job `job` into `target`: check each fetched file
    /// against the sha256 the manifest recorded once the job ended (a
    /// mismatch is reported), and write the manifest beside them, as
    /// `.crimpl/JOB.json`. `merged`: an array's outputs were fetched into
    /// one folder, without their task directories.
    pub(super) fn record_provenance(
        &self,
        job: &str,
        target: &Path,
        merged: bool,
        report: &mut FetchReport,
    ) -> anyhow::Result<()> {
        let Some(manifest) = self.manifest(job)? else {
            return Ok(());
        };
        if let Some(end) = &manifest.end {
            let fetched_as = |name: &str| match merged {
                true => name
                    .split_once('/')
                    .map_or(name, |(_, rest)| rest)
                    .to_string(),
                false => name.to_string(),
            };
            let expected: HashMap<String, &FileDigest> = end
                .outputs
                .iter()
                .map(|f| (fetched_as(&f.name), f))
                .collect();
            let fetched: Vec<&PathBuf> = report
                .written
                .iter()
                .map(|(path, _)| path)
                .chain(&report.unchanged)
                .collect();
            let mut mismatched = Vec::new();
            for path in fetched {
                let Some(digest) = expected.get(&path.to_string_lossy().into_owned()) else {
                    continue;
                };
                let here = file_sha256(&target.join(path))?;
                if here == digest.sha256 {
                    report.verified += 1;
                } else {
                    mismatched.push((
                        path.clone(),
                        format!(
                            "the job's output had sha256 {} when it ended, this file has {here}: \
                             the file changed on the server since, or in transit; fetch it again \
                             with --overwrite",
                            short(&digest.sha256)
                        ),
                    ));
                }
            }
            report.mismatched = mismatched;
        }
        let folder = target.join(PROVENANCE_DIR);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let path = folder.join(format!("{job}.json"));
        std::fs::write(&path, manifest.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
        report.manifest = Some(path);
        Ok(())
    }
}

/// The folder, in a fetch's target, that holds the fetched jobs' manifests.
pub const PROVENANCE_DIR: &str = ".crimpl";

/// The first 12 hex digits of a hash, for messages.
fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

const SUMS: &str = "--crimpl-sums--";
const SIZES: &str = "--crimpl-sizes--";

/// The exit code and the outputs from the answer of the hashing command
/// (`EXIT`, the sums as `sha256sum` prints them, then sizes as `wc -c`
/// prints them); files under an input's name are inputs, not outputs, and
/// names `sha256sum` had to escape (a newline or backslash) are left out.
fn read_outputs(text: &str, inputs: &[&str]) -> (Option<i32>, Vec<FileDigest>) {
    let (head, rest) = text.split_once(SUMS).unwrap_or((text, ""));
    let (sums, sizes) = rest.split_once(SIZES).unwrap_or((rest, ""));
    let exit_code = head.trim().parse().ok();
    let mut size_of = std::collections::HashMap::new();
    for line in sizes.lines() {
        if let Some((size, path)) = line.trim_start().split_once(' ')
            && let Some(path) = path.strip_prefix("./")
            && let Ok(size) = size.parse::<u64>()
        {
            size_of.insert(path.to_string(), size);
        }
    }
    let is_input = |path: &str| {
        inputs
            .iter()
            .any(|input| path == *input || path.starts_with(&format!("{input}/")))
    };
    let mut outputs: Vec<FileDigest> = sums
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .filter_map(|line| line.split_once("  "))
        .filter_map(|(sha256, path)| Some((sha256, path.strip_prefix("./")?)))
        .filter(|(_, path)| !is_input(path))
        .map(|(sha256, path)| FileDigest {
            name: path.to_string(),
            size: size_of.get(path).copied().unwrap_or(0),
            sha256: sha256.to_string(),
        })
        .collect();
    outputs.sort_by(|a, b| a.name.cmp(&b.name));
    (exit_code, outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_read_without_inputs_and_with_their_sizes() {
        let text = format!(
            "3\n\n{SUMS}\naaaa  ./result.csv\nbbbb  ./data.csv\ncccc  ./inputs/x\n\\dddd  ./odd\\nname\neeee  ./task-0001/out.txt\n\
             {SIZES}\n  12 ./result.csv\n   5 ./data.csv\n 7 ./task-0001/out.txt\n  24 total\n"
        );
        let (code, outputs) = read_outputs(&text, &["data.csv", "inputs"]);
        assert_eq!(code, Some(3));
        let names: Vec<(&str, u64)> = outputs.iter().map(|f| (f.name.as_str(), f.size)).collect();
        assert_eq!(names, vec![("result.csv", 12), ("task-0001/out.txt", 7)]);
    }

    #[test]
    fn no_exit_code_reads_none() {
        let (code, outputs) = read_outputs(&format!("\n\n{SUMS}\n{SIZES}\n"), &[]);
        assert_eq!(code, None);
        assert!(outputs.is_empty());
    }
}
