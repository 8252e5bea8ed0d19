//! One status poller per server: however many jobs are watched, their
//! watchers share one survey of the server's job directories per second,
//! and on Slurm one `squeue` per floor interval (the job's own status files
//! are read in between). Watchers polling at one pace wake together (see
//! [`Poller::pause`]); one of them polls and the others wait for its
//! result, never longer than [`POLL_WAIT`]: past that, they take the last
//! result. `status` and `kill` do not go through the poller, so they never
//! wait behind it.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::scheduler::QueueRead;
use crate::crimpl::job::JobRecord;
use crate::crimpl::status::JobStatus;

/// The least interval between two surveys of the job directories.
pub const FILES_INTERVAL: Duration = Duration::from_secs(1);

/// The longest a watcher waits for another's poll before it takes the last result.
pub const POLL_WAIT: Duration = Duration::from_secs(2);

/// The last results of one server's polls.
pub struct Poller {
    state: Mutex<PollState>,
    /// Notified when a poll ends.
    polled: Condvar,
    /// Where the watchers' common schedule starts.
    epoch: Instant,
}

impl Default for Poller {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            polled: Condvar::new(),
            epoch: Instant::now(),
        }
    }
}

#[derive(Default)]
struct PollState {
    survey: Option<(Instant, Vec<JobRecord>)>,
    queue: Option<(Instant, QueueRead)>,
    polling: bool,
    /// Counts [`Poller::forget`]: a poll begun before is not kept.
    generation: u64,
}

/// What a watcher should do now.
pub enum Turn {
    /// Use this record from the last survey.
    Cached(JobRecord),
    /// Survey now, with this queue when it is recent enough to reuse; hand
    /// the ticket back to [`Poller::polled`].
    Poll(Option<QueueRead>, u64),
}

impl Poller {
    fn state(&self) -> std::sync::MutexGuard<'_, PollState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the watcher of `job` polls now or takes the last survey;
    /// the queue is reused while younger than `floor`.
    pub fn turn(&self, job: &str, floor: Duration) -> Turn {
        let mut state = self.state();
        if state.polling {
            // Another watcher woke with this one: its result is on the way.
            state = self
                .polled
                .wait_timeout_while(state, POLL_WAIT, |state| state.polling)
                .map_or_else(|p| p.into_inner().0, |(state, _)| state);
        }
        // A job missing from the last survey (just submitted?) is polled for.
        let cached = |state: &PollState| {
            state
                .survey
                .as_ref()
                .and_then(|(_, records)| records.iter().find(|r| r.name == job).cloned())
        };
        let fresh = state
            .survey
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < FILES_INTERVAL);
        if (fresh || state.polling)
            && let Some(found) = cached(&state)
        {
            return Turn::Cached(found);
        }
        state.polling = true;
        let queue = state
            .queue
            .as_ref()
            .filter(|(at, _)| at.elapsed() < floor)
            .map(|(_, queue)| queue.clone());
        Turn::Poll(queue, state.generation)
    }

    /// Record a poll's result (`queue` when it read the queue afresh), or
    /// its error: then every job reads `unknown` with the error until the
    /// next poll, so no watcher shows an old status as current. A poll begun
    /// before a job changed ([`Poller::forget`]) is not kept.
    pub fn polled(&self, ticket: u64, result: Result<(Vec<JobRecord>, Option<QueueRead>), String>) {
        let mut state = self.state();
        state.polling = false;
        self.polled.notify_all();
        if ticket != state.generation {
            return;
        }
        let (records, queue) = match result {
            Ok(result) => result,
            Err(err) => {
                if let Some((at, records)) = state.survey.as_mut() {
                    *at = Instant::now();
                    for record in records.iter_mut() {
                        record.status = JobStatus::Unknown(err.clone());
                    }
                }
                return;
            }
        };
        {
            let now = Instant::now();
            state.survey = Some((now, records));
            if let Some(queue) = queue {
                state.queue = Some((now, queue));
            }
        }
    }

    /// Forget the last survey: a job was just submitted, killed or
    /// resubmitted, so the next watcher reads the files afresh.
    pub fn forget(&self) {
        let mut state = self.state();
        state.survey = None;
        state.generation += 1;
    }

    /// The pause before a watcher's next turn, for a watcher polling every
    /// `wanted`: until the first whole multiple of `wanted` since the
    /// poller's start that is at least half of `wanted` away. Watchers
    /// polling at one pace so wake together, whenever they last polled, and
    /// share one survey: polling costs the same however many jobs are watched.
    pub fn pause(&self, wanted: Duration) -> Duration {
        if wanted.is_zero() {
            return wanted;
        }
        let since = self.epoch.elapsed();
        let multiple = ((since + wanted / 2).as_secs_f64() / wanted.as_secs_f64()).ceil();
        wanted.mul_f64(multiple.max(1.0)).saturating_sub(since)
    }

    /// A queue read by someone else (`status`, `jobs`), for the watchers to reuse.
    pub fn queue_read(&self, queue: &QueueRead) {
        self.state().queue = Some((Instant::now(), queue.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(status: JobStatus) -> Vec<JobRecord> {
        vec![JobRecord::new("a", status)]
    }

    #[test]
    fn watchers_share_polls_and_the_queue_waits_for_its_floor() {
        let poller = Poller::default();
        let floor = Duration::from_secs(30);
        assert!(matches!(poller.turn("a", floor), Turn::Poll(None, 0)));
        poller.polled(
            0,
            Ok((records(JobStatus::Running), Some(QueueRead::new(())))),
        );
        assert!(matches!(poller.turn("a", floor), Turn::Cached(_)));
        assert!(
            matches!(poller.turn("b", floor), Turn::Poll(Some(_), _)),
            "b is new"
        );
        poller.polled(0, Err("host away".into()));
        match poller.turn("a", floor) {
            Turn::Cached(record) => {
                assert_eq!(record.status, JobStatus::Unknown("host away".into()))
            }
            Turn::Poll(..) => panic!("the error is shown until the next poll"),
        }
        std::thread::sleep(FILES_INTERVAL);
        // The files are read again, the queue is reused.
        assert!(matches!(poller.turn("a", floor), Turn::Poll(Some(_), _)));
        assert!(
            matches!(poller.turn("a", floor), Turn::Cached(_)),
            "a poll is under way"
        );
        poller.polled(0, Ok((records(JobStatus::Complete), None)));
        std::thread::sleep(FILES_INTERVAL);
        assert!(matches!(
            poller.turn("a", Duration::ZERO),
            Turn::Poll(None, 0)
        ));
        poller.forget();
        // A poll begun before the change is not kept.
        poller.polled(0, Ok((records(JobStatus::Complete), None)));
        assert!(
            matches!(poller.turn("a", floor), Turn::Poll(Some(_), 1)),
            "resubmitted: read again"
        );
    }

    #[test]
    fn watchers_at_one_pace_wake_together_whenever_they_last_polled() {
        let poller = Poller::default();
        let wanted = Duration::from_millis(2000);
        let first = poller.pause(wanted);
        std::thread::sleep(Duration::from_millis(300));
        let second = poller.pause(wanted);
        // Both end at the same instant: one pace after the start.
        let gap = (first.as_secs_f64() - second.as_secs_f64() - 0.3).abs();
        assert!(gap < 0.1, "{first:?} then {second:?}");
        std::thread::sleep(Duration::from_millis(800));
        // Too close to that instant: the next one.
        let third = poller.pause(wanted);
        let gap = (third.as_secs_f64() + 1.1 - 4.0).abs();
        assert!(gap < 0.1, "{third:?}");
    }

    #[test]
    fn a_watcher_waking_during_a_poll_waits_for_its_result() {
        let poller = std::sync::Arc::new(Poller::default());
        let floor = Duration::from_secs(30);
        poller.polled(0, Ok((records(JobStatus::Running), None)));
        std::thread::sleep(FILES_INTERVAL);
        let Turn::Poll(_, ticket) = poller.turn("a", floor) else {
            panic!("the last survey is old: poll");
        };
        let other = {
            let poller = poller.clone();
            std::thread::spawn(move || match poller.turn("a", floor) {
                Turn::Cached(record) => record.status,
                Turn::Poll(..) => panic!("a poll is under way"),
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        poller.polled(ticket, Ok((records(JobStatus::Complete), None)));
        assert_eq!(other.join().unwrap(), JobStatus::Complete, "the new result");
    }
}
