//! `server check`: every step from here to a working job, each with its
//! outcome, the time it took and, when it failed, what to do next. The
//! steps are data; the magics layer renders them.
//!
//! A check reads and probes, and makes nothing that costs money: a step that
//! would have to (starting an AWS instance) is skipped and says so.

mod aws;
mod remote;

use std::time::{Duration, Instant};

use super::config::ServerConfig;
use super::transport::{LocalTransport, SshTarget, diagnose};

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It works.
    Ok,
    /// It does not: the step's `next` says what to do.
    Failed,
    /// It was not tried (an earlier step failed, or it would cost money).
    Skipped,
}

impl Outcome {
    /// `ok`, `failed`, `skipped`.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One step of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What was checked (`TCP connect`, `host key`, ...).
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What was found.
    pub detail: String,
    /// How long it took.
    pub took: Duration,
    /// The exact next step, for a failed (or skipped) step.
    pub next: Option<String>,
}

/// Why a step failed: what was found, and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// What was found.
    pub detail: String,
    /// What to do next.
    pub next: String,
}

/// A failed step's finding and next step.
pub fn problem(detail: impl Into<String>, next: impl Into<String>) -> Problem {
    Problem {
        detail: detail.into(),
        next: next.into(),
    }
}

/// What a step found: a value for later steps, and a description.
pub type Found<T> = Result<(T, String), Problem>;

/// Receives the steps done so far, after each one (to show progress).
pub type OnStep<'a> = &'a (dyn Fn(&[Step]) + Sync);

/// The steps of one check, recorded as they run.
pub struct Checklist<'a> {
    steps: Vec<Step>,
    on_step: OnStep<'a>,
}

impl<'a> Checklist<'a> {
    /// An empty checklist reporting to `on_step`.
    pub fn new(on_step: OnStep<'a>) -> Self {
        Self {
            steps: Vec::new(),
            on_step,
        }
    }

    /// Run one step, timing it; `None` if it failed.
    pub fn step<T>(&mut self, name: &str, work: impl FnOnce() -> Found<T>) -> Option<T> {
        let started = Instant::now();
        let found = work();
        let took = started.elapsed();
        let (outcome, detail, next, value) = match found {
            Ok((value, detail)) => (Outcome::Ok, detail, None, Some(value)),
            Err(problem) => (Outcome::Failed, problem.detail, Some(problem.next), None),
        };
        self.push(Step {
            name: name.into(),
            outcome,
            detail,
            took,
            next,
        });
        value
    }

    /// Record steps that were not tried, and why (the first one with the way to try them).
    pub fn skip(&mut self, names: &[&str], why: &str, next: Option<&str>) {
        for (i, name) in names.iter().enumerate() {
            self.push(Step {
                name: (*name).into(),
                outcome: Outcome::Skipped,
                detail: why.into(),
                took: Duration::ZERO,
                next: next.filter(|_| i == 0).map(str::to_string),
            });
        }
    }

    /// Record `names` as skipped because an earlier step failed.
    pub fn skip_after_failure(&mut self, names: &[&str]) {
        self.skip(names, "not tried: an earlier step failed", None);
    }

    /// The steps recorded.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }

    fn push(&mut self, step: Step) {
        self.steps.push(step);
        (self.on_step)(&self.steps);
    }
}

/// Check server `name` with `config` step by step, reporting each step to `on_step`.
pub fn check(name: &str, config: &ServerConfig, on_step: OnStep<'_>) -> Vec<Step> {
    let mut list = Checklist::new(on_step);
    match config {
        ServerConfig::Local { directory } => {
            remote::job_steps(&mut list, &LocalTransport, directory, false);
        }
        ServerConfig::Ssh {
            host,
            directory,
            jump,
            ..
        }
        | ServerConfig::Slurm {
            host,
            directory,
            jump,
            ..
        } => {
            let slurm = matches!(config, ServerConfig::Slurm { .. });
            let target = list.step("configuration", || {
                SshTarget::resolve_via(host, jump.as_deref())
                    .map(|target| {
                        let detail = format!(
                            "{host} is {}{} (keys: {})",
                            target.describe(),
                            diagnose::route(&target),
                            diagnose::key_list(&target)
                        );
                        (target, detail)
                    })
                    .map_err(|err| {
                        problem(
                            format!("{err:#}"),
                            format!(
                                "fix the host (or ~/.ssh/config) and make the server again: \
                                 %crimpl server new {} {name} --host ... --replace",
                                config.kind()
                            ),
                        )
                    })
            });
            let Some(target) = target else {
                list.skip_after_failure(&remote_names(diagnose::STEPS, slurm));
                return list.into_steps();
            };
            match diagnose::connect_steps(&mut list, &target, name) {
                Some(transport) => remote::job_steps(&mut list, &transport, directory, slurm),
                None => list.skip_after_failure(&remote::names(slurm)),
            }
        }
        ServerConfig::Aws(aws) => aws::steps(&mut list, name, aws),
    }
    list.into_steps()
}

/// The connection steps from `first` on, then the job steps.
fn remote_names(connection: &[&'static str], slurm: bool) -> Vec<&'static str> {
    let mut names = connection.to_vec();
    names.extend(remote::names(slurm));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_timed_and_reported_as_they_end() {
        let seen = std::sync::Mutex::new(Vec::new());
        let on_step = |steps: &[Step]| seen.lock().unwrap().push(steps.len());
        let mut list = Checklist::new(&on_step);
        assert_eq!(list.step("first", || Ok((7, "found".into()))), Some(7));
        assert_eq!(
            list.step::<()>("second", || Err(problem("broken", "fix it"))),
            None
        );
        list.skip_after_failure(&["third"]);
        let steps = list.into_steps();
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
        let outcomes: Vec<_> = steps.iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            vec![Outcome::Ok, Outcome::Failed, Outcome::Skipped]
        );
        assert_eq!(steps[1].next.as_deref(), Some("fix it"));
        assert_eq!(steps[0].next, None);
    }

    #[test]
    fn a_local_server_checks_its_directory_and_tools() {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig::Local {
            directory: dir.path().join("jobs").display().to_string(),
        };
        let steps = check("here", &config, &|_| {});
        let names: Vec<_> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, remote::names(false));
        for step in &steps {
            assert_eq!(step.outcome, Outcome::Ok, "{step:?}");
        }
        assert!(!dir.path().join("jobs").exists(), "a check creates nothing");
    }
}
