//! The tar stream sent with a script: the scripts crimpl writes and the
//! user's `--files`, checked, under their names in the job directory.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::crimpl::array::ArraySpec;
use crate::crimpl::layout::{self, STATUS_FILE, SUBMIT_SCRIPT, WRAPPER};
use crate::crimpl::layout::{TASK_ENV, TASK_LIST, TASK_WRAPPER};
use crate::crimpl::transport::StdinFeed;

/// One entry of the tar stream sent with a script.
#[derive(Clone)]
pub struct Entry {
    /// Its name in the job directory.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    mode: u32,
    /// Its contents, for a script crimpl writes.
    pub text: Option<String>,
    /// The local file or directory sent, for the user's `--files`.
    pub path: Option<PathBuf>,
    /// Where it points, for a symbolic link.
    link: Option<String>,
}

impl Entry {
    /// A file of `text` with permissions `mode`.
    pub fn text(name: &str, text: &str, mode: u32) -> Self {
        Self {
            name: name.into(),
            size: text.len() as u64,
            mode,
            text: Some(text.into()),
            path: None,
            link: None,
        }
    }

    /// A symbolic link to `target`.
    pub fn link(name: &str, target: &str) -> Self {
        Self {
            name: name.into(),
            size: 0,
            mode: 0o777,
            text: None,
            path: None,
            link: Some(target.into()),
        }
    }
}

/// The `--files` as entries named by their basenames, checked.
pub fn uploads(files: &[PathBuf]) -> anyhow::Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?
            .to_string();
        layout::validate_file_name(&name)?;
        if entries.iter().any(|e| e.name == name) {
            bail!("two files are named {name:?}: files land in one directory, so rename one");
        }
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot send {}: no such file", path.display()))?;
        entries.push(Entry {
            name,
            size: meta.len(),
            mode: 0o644,
            text: None,
            path: Some(path.clone()),
            link: None,
        });
    }
    Ok(entries)
}

/// The task directories of an array, with what each task needs: its
/// environment, a `pending` status, and links to the one copy of the task
/// wrapper, the script and the `inputs`; and the task list, in order.
pub fn array_entries(array: &ArraySpec, inputs: &[String]) -> anyhow::Result<Vec<Entry>> {
    let mut list = String::new();
    let mut entries = Vec::with_capacity(array.tasks.len() * (4 + inputs.len()) + 1);
    for task in &array.tasks {
        let dir = array.task_dir(task.id);
        list.push_str(&format!("{dir}\t{}\n", task.id));
        entries.push(Entry::text(
            &format!("{dir}/{TASK_ENV}"),
            &array.env_file(task)?,
            0o644,
        ));
        entries.push(Entry::text(
            &format!("{dir}/{STATUS_FILE}"),
            "pending\n",
            0o644,
        ));
        entries.push(Entry::link(
            &format!("{dir}/{WRAPPER}"),
            &format!("../{TASK_WRAPPER}"),
        ));
        for name in std::iter::once(SUBMIT_SCRIPT).chain(inputs.iter().map(String::as_str)) {
            entries.push(Entry::link(&format!("{dir}/{name}"), &format!("../{name}")));
        }
    }
    entries.push(Entry::text(TASK_LIST, &list, 0o644));
    Ok(entries)
}

/// A stdin feed writing `entries` as a tar archive. Every file it writes
/// on the server carries the time of the submit (no local owner, group or
/// time leaks into it).
pub fn tar_feed(entries: Vec<Entry>) -> StdinFeed<'static> {
    Box::new(move |writer: &mut dyn Write| {
        // Whole buffers, not one write per tar header: over SSH each write
        // is a packet (an array sends thousands of small entries).
        let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 18, writer));
        builder.mode(tar::HeaderMode::Deterministic);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let header = |size: u64, mode: u32, kind: tar::EntryType| {
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            header.set_mode(mode);
            header.set_entry_type(kind);
            header.set_mtime(now);
            header
        };
        for entry in entries {
            match (entry.text, entry.path) {
                (Some(text), _) => {
                    let mut header = header(text.len() as u64, entry.mode, tar::EntryType::Regular);
                    builder.append_data(&mut header, &entry.name, text.as_bytes())?;
                }
                (None, Some(path)) if path.is_dir() => {
                    builder.append_dir_all(&entry.name, &path)?
                }
                (None, Some(path)) => {
                    let file = std::fs::File::open(&path)?;
                    let metadata = file.metadata()?;
                    let mut header = tar::Header::new_gnu();
                    header.set_metadata_in_mode(&metadata, tar::HeaderMode::Deterministic);
                    header.set_mtime(now);
                    builder.append_data(&mut header, &entry.name, file)?;
                }
                (None, None) => {
                    if let Some(target) = entry.link {
                        let mut header = header(0, entry.mode, tar::EntryType::Symlink);
                        builder.append_link(&mut header, &entry.name, &target)?;
                    }
                }
            }
        }
        builder.into_inner()?.flush()
    })
}
