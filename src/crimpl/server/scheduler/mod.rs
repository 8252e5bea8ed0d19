//! How a job starts, is killed, is surveyed and why it ended: one
//! [`Scheduler`] per kind of job control (a detached process, Slurm; later
//! arrays, PBS), each in its own file. A scheduler never knows where its
//! commands run: it is handed a [`Transport`].

mod detached;
mod slurm;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::options::SubmitOptions;
use crate::crimpl::array::{self, ArraySpec};
use crate::crimpl::config::ServerConfig;
use crate::crimpl::job::{JobRecord, SurveyLine};
use crate::crimpl::scripts::ForeignSignal;
use crate::crimpl::transport::Transport;

pub use detached::Detached;
pub use slurm::Slurm;

/// A scheduler's last read of its queue (Slurm: one `squeue`), kept by the
/// server's poller for its watchers and opaque to it: only the scheduler that
/// made it reads it.
#[derive(Clone)]
pub struct QueueRead(Arc<dyn Any + Send + Sync>);

impl QueueRead {
    /// Wrap a scheduler's own queue type.
    pub fn new<T: Any + Send + Sync>(queue: T) -> Self {
        Self(Arc::new(queue))
    }

    /// The queue, if it is a `T` (always, for the scheduler that made it).
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

/// The tasks of an array that a start command starts.
pub struct TaskStart<'a> {
    /// Their ids, ascending.
    pub ids: &'a [u64],
    /// At most this many at once (`--max-parallel`).
    pub max_parallel: Option<u32>,
    /// Whether these are all the array's tasks (its first submission).
    pub all: bool,
}

/// A file a scheduler adds to a job directory (Slurm: the batch script).
pub struct SchedulerFile {
    /// Its name in the job directory.
    pub name: &'static str,
    /// Its contents.
    pub text: String,
    /// What the user should know about it (e.g. directives it overrides).
    pub notes: Vec<String>,
}

/// Which job directories to survey, and how.
pub struct SurveyRequest<'a> {
    /// The server directory, as the user gave it.
    pub directory: &'a str,
    /// A glob of job directory names in it.
    pub pattern: &'a str,
    /// Whether processes recorded by other hosts are known to be gone (a
    /// volume moved between EC2 instances).
    pub other_hosts_gone: bool,
    /// A recent queue read to use instead of reading the queue again.
    pub cached: Option<&'a QueueRead>,
}

/// How jobs start, stop and are read on a server.
pub trait Scheduler: Send + Sync {
    /// The command that starts the job prepared in `job_dir` (a shell
    /// word); for an array, `tasks` are the tasks to run (run again: the
    /// others keep their ends). Through `transport`, a scheduler may read
    /// once what the site allows (Slurm: `MaxArraySize`); without one it
    /// uses what it read before, if anything.
    fn start_command(
        &self,
        transport: Option<&dyn Transport>,
        job_dir: &str,
        tasks: Option<&TaskStart<'_>>,
    ) -> String;

    /// What to tell the user when the site refused a job's start with
    /// `said` (Slurm: a policy such as a partition's MaxTime): its words and
    /// the limit that applies, or `None` to show the error as it is.
    fn refusal(
        &self,
        _transport: &dyn Transport,
        _said: &str,
        _options: &SubmitOptions,
    ) -> Option<String> {
        None
    }

    /// The command that kills the job in `job_dir`: it prints what it did
    /// (see [`crate::crimpl::KillOutcome`]), exits 3 when there is no such
    /// directory.
    fn kill_command(&self, job_dir: &str) -> String;

    /// What the job wrapper records when something else than `kill` signals it.
    fn foreign_signal(&self) -> ForeignSignal;

    /// The file this scheduler adds to the job `job` running `script`, if any.
    fn job_file(
        &self,
        job: &str,
        script: &str,
        options: &SubmitOptions,
    ) -> anyhow::Result<Option<SchedulerFile>>;

    /// The top-level wrapper of an array job with these tasks, when this
    /// scheduler runs arrays through one (a detached runner, which sends
    /// tasks to helper machines too with `helpers`, and runs `after` once
    /// it recorded the array's end); `None` when the scheduler runs each
    /// task itself (Slurm).
    fn array_runner(&self, array: &ArraySpec, helpers: bool, after: Option<&str>)
    -> Option<String>;

    /// The least interval between two queue reads of one server's watchers.
    fn poll_floor(&self) -> Duration;

    /// Every job matching the request, with its status, through `transport`;
    /// and the queue, when it was read afresh.
    fn survey(
        &self,
        transport: &dyn Transport,
        request: &SurveyRequest<'_>,
    ) -> anyhow::Result<(Vec<JobRecord>, Option<QueueRead>)>;
}

/// The scheduler of a server with `config`.
pub fn for_config(config: &ServerConfig) -> Box<dyn Scheduler> {
    match config {
        ServerConfig::Slurm {
            mail_user,
            defaults,
            poll_floor_seconds,
            login_shell,
            ..
        } => Box::new(Slurm::new(
            mail_user.clone(),
            defaults.clone(),
            *poll_floor_seconds,
            *login_shell,
        )),
        ServerConfig::Local { .. } | ServerConfig::Ssh { .. } | ServerConfig::Aws(_) => {
            Box::new(Detached)
        }
    }
}

/// The survey lines in a survey command's output.
fn survey_lines(text: &str) -> Vec<SurveyLine> {
    text.lines().filter_map(SurveyLine::parse).collect()
}

/// Records sorted by job name, as every survey returns them, with each
/// array's tasks under their array.
fn sorted(records: Vec<JobRecord>) -> Vec<JobRecord> {
    let mut records = array::nest_tasks(records);
    records.sort_by(|a, b| a.name.cmp(&b.name));
    records
}
