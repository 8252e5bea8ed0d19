//! A checklist: steps run in order, each timed, with its outcome and, when
//! it failed, what to do next. `server check` (in `check/`) is its main
//! user; the transport's diagnosis of an SSH connection writes its steps
//! into one too, so this vocabulary sits below both.

use std::time::{Duration, Instant};

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
