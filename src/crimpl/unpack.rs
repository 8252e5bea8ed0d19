//! Unpacking fetched files safely: nothing outside the target directory, no
//! link followed, every file written whole (a temporary file renamed into
//! place) or not at all, and no different existing file replaced unless asked.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

/// What happened to each fetched file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// Files written (new, or replaced with `--overwrite`), with their sizes.
    pub written: Vec<(PathBuf, u64)>,
    /// Files already present with the same content.
    pub unchanged: Vec<PathBuf>,
    /// Files present with different content, kept because overwriting was not asked for.
    pub kept: Vec<PathBuf>,
    /// Archive entries refused (links, devices, unsafe paths), with the reason.
    pub refused: Vec<(String, String)>,
    /// Files that could not be written here (name too long, permission
    /// denied, ...), with the reason: nothing of them was written.
    pub failed: Vec<(PathBuf, String)>,
    /// How many hidden files or directories (a name starting with `.`) were
    /// left out, a directory counting once with everything in it.
    pub hidden_left_out: usize,
    /// The first few of them, to name in the report.
    pub hidden_examples: Vec<PathBuf>,
    /// Files here whose sha256 differs from what the job's manifest
    /// recorded on the server, with what was expected.
    pub mismatched: Vec<(PathBuf, String)>,
    /// How many files were checked against the job's manifest and matched.
    pub verified: usize,
    /// Where the job's manifest was written beside the fetched files.
    pub manifest: Option<PathBuf>,
}

impl FetchReport {
    /// Whether some file could not be written, or differs from the job's manifest.
    pub fn has_failures(&self) -> bool {
        !self.failed.is_empty() || !self.mismatched.is_empty()
    }
}

/// How many hidden entries a report names.
const HIDDEN_EXAMPLES: usize = 5;

/// How to unpack a fetch.
#[derive(Debug, Clone, Default)]
pub struct UnpackPolicy {
    /// Replace existing files that differ.
    pub overwrite: bool,
    /// Take hidden files and directories too (`.git/...`, `.ipython/...`).
    pub hidden: bool,
    /// Paths the user named: hidden parts of a named path itself are wanted.
    pub named: Vec<PathBuf>,
    /// Drop each path's first part (as `tar --strip-components=1`): an
    /// array's task directory, for its tasks' outputs in one folder.
    pub strip_first_part: bool,
}

impl UnpackPolicy {
    /// The hidden entry that `relative` is or lies in, if it is not asked
    /// for: the first part below what was named (or any part, when nothing
    /// was) that starts with `.`.
    fn hidden_root(&self, relative: &Path) -> Option<PathBuf> {
        if self.hidden {
            return None;
        }
        let below_named = self
            .named
            .iter()
            .filter_map(|named| relative.strip_prefix(named).ok())
            .min_by_key(|rest| rest.components().count());
        let rest = below_named.unwrap_or(relative);
        let skipped = relative.components().count() - rest.components().count();
        let hidden_at = rest
            .components()
            .position(|part| part.as_os_str().as_encoded_bytes().starts_with(b"."))?;
        Some(
            relative
                .components()
                .take(skipped + hidden_at + 1)
                .collect(),
        )
    }
}

/// Unpack the tar stream `archive` into `target` (created if missing).
pub fn unpack(
    archive: impl Read,
    target: &Path,
    policy: &UnpackPolicy,
) -> anyhow::Result<FetchReport> {
    fs::create_dir_all(target).with_context(|| format!("cannot create {}", target.display()))?;
    let target = target
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", target.display()))?;
    let mut report = FetchReport::default();
    // tar lists a directory's entries right after it: one count per hidden entry.
    let mut last_hidden: Option<PathBuf> = None;
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries().context("reading the fetched archive")? {
        let mut entry = entry.context("reading the fetched archive")?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let relative = match safe_relative_path(&raw_path) {
            Ok(path) => path,
            Err(reason) => {
                report.refused.push((raw_path, reason));
                continue;
            }
        };
        let relative: PathBuf = if policy.strip_first_part {
            relative.components().skip(1).collect()
        } else {
            relative
        };
        if relative.as_os_str().is_empty() {
            continue; // "./" itself (or the stripped part itself)
        }
        if let Some(root) = policy.hidden_root(&relative) {
            if last_hidden.as_ref() != Some(&root) {
                if report.hidden_examples.len() < HIDDEN_EXAMPLES {
                    report.hidden_examples.push(root.clone());
                }
                report.hidden_left_out += 1;
                last_hidden = Some(root);
            }
            continue;
        }
        let kind = entry.header().entry_type();
        let destination = target.join(&relative);
        match ensure_real_dirs(&target, relative.parent()) {
            Ok(()) => {}
            Err(DirProblem::Link(reason)) => {
                report.refused.push((raw_path, reason));
                continue;
            }
            Err(DirProblem::Unwritable(reason)) => {
                report.failed.push((relative, reason));
                continue;
            }
        }
        if kind.is_dir() {
            match fs::symlink_metadata(&destination) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => report
                    .refused
                    .push((raw_path, "a non-directory of that name exists".into())),
                Err(_) => {
                    if let Err(err) = fs::create_dir(&destination) {
                        report.failed.push((relative, err.to_string()));
                    }
                }
            }
            continue;
        }
        if !kind.is_file() {
            report.refused.push((
                raw_path,
                "only regular files are fetched (links and devices are not)".into(),
            ));
            continue;
        }
        let executable = entry
            .header()
            .mode()
            .map(|m| m & 0o111 != 0)
            .unwrap_or(false);
        let expected = entry
            .header()
            .size()
            .context("reading the fetched archive")?;
        let placed = place_file(
            &mut entry,
            &destination,
            expected,
            executable,
            policy.overwrite,
        )?;
        match placed {
            Placed::Written(size) => report.written.push((relative, size)),
            Placed::Unchanged => report.unchanged.push(relative),
            Placed::Kept => report.kept.push(relative),
            Placed::Refused(reason) => report.refused.push((raw_path, reason)),
            Placed::Failed(reason) => report.failed.push((relative, reason)),
        }
    }
    Ok(report)
}

/// A relative path made only of normal components, or why not.
fn safe_relative_path(raw: &str) -> Result<PathBuf, String> {
    let mut path = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains '..'".into()),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path".into()),
        }
    }
    Ok(path)
}

/// Why a file's directory cannot be used.
enum DirProblem {
    /// A symbolic link is in the way: never followed (refused).
    Link(String),
    /// A file is in the way, or a directory cannot be made (a failure).
    Unwritable(String),
}

/// Check that every directory between `target` and `relative` is a real
/// directory (not a symlink), creating missing ones.
fn ensure_real_dirs(target: &Path, relative: Option<&Path>) -> Result<(), DirProblem> {
    let mut current = target.to_path_buf();
    for part in relative.into_iter().flat_map(Path::components) {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(DirProblem::Link(format!(
                    "{} is a symbolic link",
                    current.display()
                )));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(DirProblem::Unwritable(format!(
                    "{} is a file, not a directory",
                    current.display()
                )));
            }
            Err(_) => fs::create_dir(&current).map_err(|e| {
                DirProblem::Unwritable(format!("cannot create {}: {e}", current.display()))
            })?,
        }
    }
    Ok(())
}

enum Placed {
    Written(u64),
    Unchanged,
    Kept,
    Refused(String),
    Failed(String),
}

/// The mode a new file is created with; the process's umask then applies,
/// as for any file a program writes.
fn creation_mode(executable: bool) -> u32 {
    if executable { 0o777 } else { 0o666 }
}

/// Receive one file into a temporary file beside `destination`, then put it
/// in place. A file that cannot be written here is `Failed` (and nothing of
/// it remains); only a stream cut short is an error for the whole fetch.
fn place_file(
    contents: &mut impl Read,
    destination: &Path,
    expected: u64,
    executable: bool,
    overwrite: bool,
) -> anyhow::Result<Placed> {
    use std::os::unix::fs::PermissionsExt;
    let parent = destination.parent().context("file without a directory")?;
    let mode = creation_mode(executable);
    let mut temp = match tempfile::Builder::new()
        .prefix(".crimpl-fetch-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(parent)
    {
        Ok(temp) => temp,
        Err(err) => {
            // Drain the entry so the next one can be read.
            io::copy(contents, &mut io::sink()).context("receiving a fetched file")?;
            return Ok(Placed::Failed(format!(
                "cannot write in {}: {err}",
                parent.display()
            )));
        }
    };
    let size = copy(contents, temp.as_file_mut()).context("receiving a fetched file")?;
    if size != expected {
        // The stream ended early: drop the partial copy (the temp file is deleted).
        bail!(
            "{} arrived incomplete ({size} of {expected} bytes): the connection was cut; fetch again",
            destination.display()
        );
    }
    match fs::symlink_metadata(destination) {
        Err(_) => return Ok(place_new(temp, destination, mode)),
        Ok(meta) if !meta.is_file() => {
            return Ok(Placed::Refused(
                "a link or directory of that name exists".into(),
            ));
        }
        Ok(_) => {}
    }
    if same_contents(temp.path(), destination)? {
        return Ok(Placed::Unchanged);
    }
    if !overwrite {
        return Ok(Placed::Kept);
    }
    Ok(match temp.persist(destination) {
        Ok(_) => Placed::Written(size),
        Err(err) => Placed::Failed(format!("cannot replace it: {}", err.error)),
    })
}

/// Put a received file where no file exists, never replacing one that
/// appeared meanwhile. Where the filesystem has neither `RENAME_NOREPLACE`
/// nor hard links (which `persist_noclobber` needs), the file is copied into
/// a newly created one, removed again if the copy fails.
fn place_new(temp: tempfile::NamedTempFile, destination: &Path, mode: u32) -> Placed {
    use std::os::unix::fs::OpenOptionsExt;
    let size = temp.as_file().metadata().map_or(0, |m| m.len());
    let temp = match temp.persist_noclobber(destination) {
        Ok(_) => return Placed::Written(size),
        Err(_) if fs::symlink_metadata(destination).is_ok() => return Placed::Kept,
        Err(err) if err.error.raw_os_error() == Some(libc::ENAMETOOLONG) => {
            return Placed::Failed(format!("cannot create it: {}", err.error));
        }
        Err(err) => err.file,
    };
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(destination);
    let mut file = match created {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Placed::Kept,
        Err(err) => return Placed::Failed(format!("cannot create it: {err}")),
    };
    let copied = fs::File::open(temp.path()).and_then(|mut from| copy(&mut from, &mut file));
    match copied {
        Ok(size) => Placed::Written(size),
        Err(err) => {
            let _ = fs::remove_file(destination);
            Placed::Failed(format!("cannot write it: {err}"))
        }
    }
}

/// [`unpack`] a stream that goes on after its archive (tar pads an archive
/// to a whole record), reading it to its end once the archive was
/// unpacked, so that its sender never writes into a closed pipe.
pub fn unpack_stream(
    mut stream: impl Read,
    target: &Path,
    policy: &UnpackPolicy,
) -> anyhow::Result<FetchReport> {
    let report = unpack(&mut stream, target, policy)?;
    io::copy(&mut stream, &mut io::sink()).context("reading the end of the fetched archive")?;
    Ok(report)
}

/// `io::copy` with a 1 MiB buffer (its 8 KiB default costs a system call per 8 KiB).
pub fn copy(from: &mut (impl Read + ?Sized), to: &mut (impl Write + ?Sized)) -> io::Result<u64> {
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
        total += n as u64;
    }
}

/// Grow a pipe's buffer to 1 MiB (Linux), so the two sides of a fetch rarely wait on each other.
pub fn widen_pipe(pipe: &impl std::os::fd::AsRawFd) {
    // SAFETY: F_SETPIPE_SZ on a valid pipe descriptor; failure only leaves the default size.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

fn same_contents(a: &Path, b: &Path) -> anyhow::Result<bool> {
    if fs::metadata(a)?.len() != fs::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut a, mut b) = (fs::File::open(a)?, fs::File::open(b)?);
    let (mut buf_a, mut buf_b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut buf_a)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut buf_b[..n])?;
        if buf_a[..n] != buf_b[..n] {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_read_past_its_archive_to_its_end() {
        let mut archive = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        archive
            .append_data(&mut header, "a.txt", &b"hi"[..])
            .unwrap();
        let mut bytes = archive.into_inner().unwrap();
        bytes.extend_from_slice(&[0u8; 10240]); // a record's padding, after the end
        let mut stream = io::Cursor::new(bytes);
        let dir = tempfile::tempdir().unwrap();
        let report = unpack_stream(&mut stream, dir.path(), &UnpackPolicy::default()).unwrap();
        assert_eq!(report.written.len(), 1);
        assert_eq!(
            stream.position() as usize,
            stream.get_ref().len(),
            "the padding was left unread"
        );
    }

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // set_path refuses '..'; write the raw name as a hostile server could.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn overwrite() -> UnpackPolicy {
        UnpackPolicy {
            overwrite: true,
            ..UnpackPolicy::default()
        }
    }

    #[test]
    fn hidden_entries_are_left_out_unless_named_or_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let data = archive(&[("r/a.txt", b"A"), ("r/.cache/x", b"X"), (".git/HEAD", b"H")]);
        let report = unpack(&data[..], dir.path(), &UnpackPolicy::default()).unwrap();
        assert_eq!(report.written.len(), 1);
        assert_eq!(report.hidden_left_out, 2);
        assert!(!dir.path().join(".git").exists());
        let named = UnpackPolicy {
            named: vec![PathBuf::from(".git")],
            ..UnpackPolicy::default()
        };
        let report = unpack(&data[..], dir.path(), &named).unwrap();
        assert_eq!(fs::read(dir.path().join(".git/HEAD")).unwrap(), b"H");
        assert_eq!(report.hidden_left_out, 1);
        let all = UnpackPolicy {
            hidden: true,
            ..UnpackPolicy::default()
        };
        let report = unpack(&data[..], dir.path(), &all).unwrap();
        assert_eq!(report.hidden_left_out, 0);
        assert!(dir.path().join("r/.cache/x").exists());
    }

    #[test]
    fn the_first_part_is_dropped_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let data = archive(&[("task-0001/a.txt", b"A"), ("task-0002/sub/b.txt", b"B")]);
        let merged = UnpackPolicy {
            strip_first_part: true,
            ..UnpackPolicy::default()
        };
        let report = unpack(&data[..], dir.path(), &merged).unwrap();
        assert_eq!(report.written.len(), 2);
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"A");
        assert_eq!(fs::read(dir.path().join("sub/b.txt")).unwrap(), b"B");
        assert!(!dir.path().join("task-0001").exists());
    }

    #[test]
    fn modes_follow_the_umask_and_the_remote_execute_bit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        for (name, mode) in [("plain", 0o600), ("tool", 0o700)] {
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(mode);
            header.set_cksum();
            builder.append_data(&mut header, name, &b"x"[..]).unwrap();
        }
        let data = builder.into_inner().unwrap();
        unpack(&data[..], dir.path(), &UnpackPolicy::default()).unwrap();
        // SAFETY: umask is read and restored at once; tests in this module do not depend on it meanwhile.
        let umask = unsafe {
            let old = libc::umask(0o022);
            libc::umask(old);
            old
        } as u32;
        let mode = |name: &str| {
            fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("plain"), 0o666 & !umask);
        assert_eq!(mode("tool"), 0o777 & !umask);
    }

    #[test]
    fn a_file_that_cannot_be_written_is_a_failure_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let long = "n".repeat(300); // longer than NAME_MAX (255)
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_data(&mut header, "ok.txt", &b"f"[..])
            .unwrap();
        builder.append_data(&mut header, &long, &b"x"[..]).unwrap();
        let data = builder.into_inner().unwrap();
        let report = unpack(&data[..], dir.path(), &UnpackPolicy::default()).unwrap();
        assert_eq!(report.written.len(), 1);
        assert!(report.kept.is_empty());
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert!(report.has_failures());
    }

    #[test]
    fn files_land_inside_the_target_and_escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let data = archive(&[
            ("a.txt", b"A"),
            ("sub/b.txt", b"B"),
            ("../escape", b"X"),
            ("/abs", b"Y"),
        ]);
        let report = unpack(&data[..], &target, &UnpackPolicy::default()).unwrap();
        assert_eq!(report.written.len(), 2);
        assert_eq!(report.refused.len(), 2);
        assert_eq!(fs::read(target.join("sub/b.txt")).unwrap(), b"B");
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn different_existing_files_are_kept_unless_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("r.txt"), "mine").unwrap();
        let data = archive(&[("r.txt", b"theirs")]);
        let report = unpack(&data[..], dir.path(), &UnpackPolicy::default()).unwrap();
        assert_eq!(report.kept, vec![PathBuf::from("r.txt")]);
        assert_eq!(
            fs::read_to_string(dir.path().join("r.txt")).unwrap(),
            "mine"
        );
        let report = unpack(&data[..], dir.path(), &overwrite()).unwrap();
        assert_eq!(report.written.len(), 1);
        assert_eq!(
            fs::read_to_string(dir.path().join("r.txt")).unwrap(),
            "theirs"
        );
        let report = unpack(&data[..], dir.path(), &UnpackPolicy::default()).unwrap();
        assert_eq!(report.unchanged, vec![PathBuf::from("r.txt")]);
    }

    #[test]
    fn symlinked_directories_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let data = archive(&[("link/x.txt", b"X")]);
        let report = unpack(&data[..], dir.path(), &overwrite()).unwrap();
        assert_eq!(report.refused.len(), 1);
        assert!(!outside.path().join("x.txt").exists());
    }

    #[test]
    fn a_truncated_archive_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = archive(&[("big.bin", &[7u8; 4096])]);
        let truncated = &data[..1024];
        assert!(unpack(truncated, dir.path(), &UnpackPolicy::default()).is_err());
        assert!(!dir.path().join("big.bin").exists());
    }
}
