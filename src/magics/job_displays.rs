//! Every status display of a job in this notebook, kept current together,
//! and the background watchers that keep them so.
//!
//! Whenever the kernel learns a job's status (a watcher's poll, `wait`,
//! `status`, `jobs`, `kill`), every display of that job is updated. A
//! display's note says how current it is in words that stay true in a saved
//! notebook: when the status was last checked, and whether the kernel still
//! watches the job (and if not, why).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use super::{Output, render};
use crate::crimpl::JobRecord;

/// A job, by server name and job name.
type JobKey = (String, String);

/// The displays and watchers of this kernel's jobs.
#[derive(Default)]
pub struct JobDisplays {
    jobs: Mutex<HashMap<JobKey, Entry>>,
}

#[derive(Default)]
struct Entry {
    /// Display ids and the cells that made them.
    displays: Vec<(String, Output)>,
    /// The background watcher, if one runs.
    background: Option<CancellationToken>,
    /// Foreground watches (`wait`, `log --follow`) running now.
    foreground: usize,
    /// The latest record and when it was read.
    last: Option<(JobRecord, String)>,
    /// Why the last watcher stopped, kept for every later update while none
    /// watches (a poll finishing just after `unwatch` must not hide it).
    stopped_because: Option<String>,
}

impl Entry {
    fn watched(&self) -> bool {
        self.background.is_some() || self.foreground > 0
    }

    fn show(&self, server: &str, note: &str) {
        if let Some((record, _)) = &self.last {
            let view = render::job_status(server, record, note);
            for (id, out) in &self.displays {
                out.update_display(&view, id);
            }
        }
    }
}

/// What a foreground watch holds while it runs; dropping it ends the watch.
pub struct Foreground<'a> {
    displays: &'a JobDisplays,
    key: JobKey,
}

impl Drop for Foreground<'_> {
    fn drop(&mut self) {
        let mut jobs = self.displays.lock();
        if let Some(entry) = jobs.get_mut(&self.key) {
            entry.foreground = entry.foreground.saturating_sub(1);
            if !entry.watched() {
                let note = unwatched_note(&self.key, entry, "nothing watches it now");
                entry.show(&self.key.0, &note);
            }
        }
    }
}

impl JobDisplays {
    /// Show `record` in a new display `display_id` of `out`, and keep it current.
    pub fn add(&self, server: &str, record: &JobRecord, display_id: &str, out: &Output) {
        let key = (server.to_string(), record.name.clone());
        let mut jobs = self.lock();
        let entry = jobs.entry(key.clone()).or_default();
        entry.displays.push((display_id.to_string(), out.clone()));
        entry.last = Some((record.clone(), now()));
        let view = render::job_status(server, record, &note(&key, entry));
        out.display(&view, Some(display_id));
    }

    /// The kernel has just read `record` on `server`: update every display of its job.
    pub fn seen(&self, server: &str, record: &JobRecord) {
        let key = (server.to_string(), record.name.clone());
        let mut jobs = self.lock();
        let Some(entry) = jobs.get_mut(&key) else {
            return;
        };
        entry.last = Some((record.clone(), now()));
        entry.show(server, &note(&key, entry));
    }

    /// A foreground watch of `job` starts; it ends when the result is dropped.
    pub fn foreground(&self, server: &str, job: &str) -> Foreground<'_> {
        let key = (server.to_string(), job.to_string());
        let mut jobs = self.lock();
        let entry = jobs.entry(key.clone()).or_default();
        entry.foreground += 1;
        entry.stopped_because = None;
        drop(jobs);
        Foreground {
            displays: self,
            key,
        }
    }

    /// A token for a new background watcher of `job`, or `None` if one already watches it.
    pub fn start_background(&self, server: &str, job: &str) -> Option<CancellationToken> {
        let key = (server.to_string(), job.to_string());
        let mut jobs = self.lock();
        let entry = jobs.entry(key).or_default();
        if entry.background.is_some() {
            return None;
        }
        let token = CancellationToken::new();
        entry.background = Some(token.clone());
        entry.stopped_because = None;
        Some(token)
    }

    /// The background watcher of `job` has stopped, for `reason` if the job did not end.
    pub fn background_ended(&self, server: &str, job: &str, reason: Option<&str>) {
        let key = (server.to_string(), job.to_string());
        let mut jobs = self.lock();
        if let Some(entry) = jobs.get_mut(&key) {
            entry.background = None;
            if let Some(reason) = reason {
                entry.stopped_because = Some(reason.to_string());
                let note = unwatched_note(&key, entry, reason);
                entry.show(server, &note);
            }
        }
    }

    /// Stop the background watchers of `job` on `server` (every job when
    /// `None`), saying `reason` in their displays; returns the jobs stopped.
    pub fn stop(&self, job: Option<(&str, &str)>, reason: &str) -> Vec<String> {
        let mut jobs = self.lock();
        let mut stopped = Vec::new();
        for (key, entry) in jobs.iter_mut() {
            if job.is_some_and(|(server, job)| (server, job) != (key.0.as_str(), key.1.as_str())) {
                continue;
            }
            if let Some(token) = entry.background.take() {
                token.cancel();
                stopped.push(key.1.clone());
                entry.stopped_because = Some(reason.to_string());
                let note = unwatched_note(key, entry, reason);
                entry.show(&key.0, &note);
            }
        }
        stopped.sort();
        stopped
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobKey, Entry>> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The note under a job's status: none once it ended, else how current it is.
fn note(key: &JobKey, entry: &Entry) -> String {
    match &entry.last {
        Some((record, _)) if record.status.is_final() => String::new(),
        Some((_, checked)) if entry.watched() => {
            format!("checked at {checked}; this display updates while the kernel watches the job")
        }
        _ => unwatched_note(
            key,
            entry,
            entry
                .stopped_because
                .as_deref()
                .unwrap_or("nothing watches it now"),
        ),
    }
}

/// The note of a display that no longer updates, and why.
fn unwatched_note(key: &JobKey, entry: &Entry, reason: &str) -> String {
    match &entry.last {
        Some((record, _)) if record.status.is_final() => String::new(),
        Some((_, checked)) => format!(
            "checked at {checked}; not updated any more: {reason} (%crimpl status {} --server {} shows the latest)",
            key.1, key.0
        ),
        None => String::new(),
    }
}

fn now() -> String {
    chrono::Utc::now().format("%H:%M:%S UTC").to_string()
}
