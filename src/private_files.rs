//! Files on the notebook's machine that only their user may read (the
//! history of cells, kept job logs, recorded job ends): directories 0700,
//! files 0600, and tightened to that when found wider.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Create `dir` and its missing parents, each new one private (0700, as the
/// XDG base directory spec asks); `dir` itself is made private if it exists wider.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(
        &std::fs::metadata(dir)?.permissions(),
        DIR_MODE,
        |private| std::fs::set_permissions(dir, private),
    )
}

/// Open `file` for appending (and reading), creating it private; an existing file is made private.
pub fn open_append(file: &Path) -> std::io::Result<File> {
    let handle = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(FILE_MODE)
        .open(file)?;
    tighten(&handle.metadata()?.permissions(), FILE_MODE, |private| {
        handle.set_permissions(private)
    })?;
    Ok(handle)
}

/// Replace `file` with `contents` whole (a reader never sees half of it),
/// private, in a private directory.
pub fn write(file: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    create_dir(dir)?;
    // tempfile makes its files 0600.
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(contents)?;
    temp.persist(file).map_err(|err| err.error)?;
    Ok(())
}

/// Call `set` with `permissions` narrowed to `mode` if they allow more.
fn tighten(
    permissions: &Permissions,
    mode: u32,
    set: impl FnOnce(Permissions) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if permissions.mode() & 0o777 & !mode == 0 {
        return Ok(());
    }
    set(Permissions::from_mode(permissions.mode() & mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_wide_files_and_directories_end_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing directory is tightened");

        let file = dir.join("history.jsonl");
        drop(open_append(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        drop(open_append(&file).unwrap());
        assert_eq!(mode(&file), 0o600, "an existing file is tightened");

        let written = dir.join("c").join("end.json");
        write(&written, b"{}").unwrap();
        assert_eq!(mode(&written), 0o600);
        assert_eq!(mode(&dir.join("c")), 0o700);
        assert_eq!(std::fs::read(&written).unwrap(), b"{}");
    }
}
