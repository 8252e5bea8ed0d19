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
}

/// Unpack the tar stream `archive` into `target` (created if missing).
pub fn unpack(archive: impl Read, target: &Path, overwrite: bool) -> anyhow::Result<FetchReport> {
    fs::create_dir_all(target).with_context(|| format!("cannot create {}", target.display()))?;
    let target = target
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", target.display()))?;
    let mut report = FetchReport::default();
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
        if relative.as_os_str().is_empty() {
            continue; // "./" itself
        }
        let kind = entry.header().entry_type();
        let destination = target.join(&relative);
        if let Err(reason) = ensure_real_dirs(&target, relative.parent()) {
            report.refused.push((raw_path, reason));
            continue;
        }
        if kind.is_dir() {
            match fs::symlink_metadata(&destination) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => report
                    .refused
                    .push((raw_path, "a non-directory of that name exists".into())),
                Err(_) => fs::create_dir(&destination)
                    .with_context(|| format!("cannot create {}", destination.display()))?,
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
        match place_file(&mut entry, &destination, expected, executable, overwrite)? {
            Placed::Written(size) => report.written.push((relative, size)),
            Placed::Unchanged => report.unchanged.push(relative),
            Placed::Kept => report.kept.push(relative),
            Placed::Refused(reason) => report.refused.push((raw_path, reason)),
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

/// Check that every directory between `target` and `relative` is a real
/// directory (not a symlink), creating missing ones.
fn ensure_real_dirs(target: &Path, relative: Option<&Path>) -> Result<(), String> {
    let mut current = target.to_path_buf();
    for part in relative.into_iter().flat_map(Path::components) {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!("{} is a symbolic link", current.display()));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory", current.display())),
            Err(_) => fs::create_dir(&current)
                .map_err(|e| format!("cannot create {}: {e}", current.display()))?,
        }
    }
    Ok(())
}

enum Placed {
    Written(u64),
    Unchanged,
    Kept,
    Refused(String),
}

fn place_file(
    contents: &mut impl Read,
    destination: &Path,
    expected: u64,
    executable: bool,
    overwrite: bool,
) -> anyhow::Result<Placed> {
    let parent = destination.parent().context("file without a directory")?;
    let mut temp = tempfile::Builder::new()
        .prefix(".crimpl-fetch-")
        .tempfile_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    let size = copy(contents, temp.as_file_mut()).context("receiving a fetched file")?;
    if size != expected {
        // The stream ended early: drop the partial copy (the temp file is deleted).
        bail!(
            "{} arrived incomplete ({size} of {expected} bytes): the connection was cut; fetch again",
            destination.display()
        );
    }
    if executable {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o755))?;
    }
    match fs::symlink_metadata(destination) {
        Err(_) => {
            // persist_noclobber: never replace a file that appeared meanwhile.
            return match temp.persist_noclobber(destination) {
                Ok(_) => Ok(Placed::Written(size)),
                Err(_) => Ok(Placed::Kept),
            };
        }
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
    temp.persist(destination)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", destination.display()))?;
    Ok(Placed::Written(size))
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
        let report = unpack(&data[..], &target, false).unwrap();
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
        let report = unpack(&data[..], dir.path(), false).unwrap();
        assert_eq!(report.kept, vec![PathBuf::from("r.txt")]);
        assert_eq!(
            fs::read_to_string(dir.path().join("r.txt")).unwrap(),
            "mine"
        );
        let report = unpack(&data[..], dir.path(), true).unwrap();
        assert_eq!(report.written.len(), 1);
        assert_eq!(
            fs::read_to_string(dir.path().join("r.txt")).unwrap(),
            "theirs"
        );
        let report = unpack(&data[..], dir.path(), false).unwrap();
        assert_eq!(report.unchanged, vec![PathBuf::from("r.txt")]);
    }

    #[test]
    fn symlinked_directories_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let data = archive(&[("link/x.txt", b"X")]);
        let report = unpack(&data[..], dir.path(), true).unwrap();
        assert_eq!(report.refused.len(), 1);
        assert!(!outside.path().join("x.txt").exists());
    }

    #[test]
    fn a_truncated_archive_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = archive(&[("big.bin", &[7u8; 4096])]);
        let truncated = &data[..1024];
        assert!(unpack(truncated, dir.path(), false).is_err());
        assert!(!dir.path().join("big.bin").exists());
    }
}
