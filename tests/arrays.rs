//! Array jobs (sweeps) through the engine alone, on a local server in a
//! temporary directory: every task runs once in its own directory with its
//! id and parameters, never more than `max_parallel` at once; a failed task
//! fails the array; outputs come back one folder per task; kill stops the
//! running tasks and the waiting ones never start. And `--after`: a chain
//! whose first job fails.

use std::path::Path;
use std::time::{Duration, Instant};

use common::{local_server, quiet};
use crimpl_kernel::crimpl::after::After;
use crimpl_kernel::crimpl::array::ArraySpec;
use crimpl_kernel::crimpl::{JobRecord, JobStatus, Server, SubmitOptions, UnpackPolicy};

mod common;

/// How long an array of these tests may take to end (seconds in practice;
/// the bound only keeps a broken build from hanging).
const PATIENCE: Duration = Duration::from_secs(120);

fn submit(server: &Server, job: &str, script: &str, array: ArraySpec) -> String {
    let options = SubmitOptions {
        job: Some(job.into()),
        array: Some(array),
        ..SubmitOptions::default()
    };
    common::submit(server, script, &options)
}

fn wait_until(server: &Server, job: &str, done: impl Fn(&JobRecord) -> bool) -> JobRecord {
    common::wait_until(server, job, PATIENCE, Duration::from_millis(100), done)
}

fn count(record: &JobRecord, status: &JobStatus) -> usize {
    record.tasks.iter().filter(|t| t.status == *status).count()
}

/// The most intervals (start, end) that overlap at one moment.
fn most_at_once(mut events: Vec<(u128, i32)>) -> i32 {
    events.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    most
}

#[test]
fn every_task_runs_once_in_its_directory_never_more_than_asked_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "array-test");
    let params = dir.path().join("sweep.csv");
    let rows: String = (1..=10)
        .map(|i| format!("{}, label {i}\n", i as f64 / 4.0))
        .collect();
    std::fs::write(&params, format!("alpha,label\n{rows}")).unwrap();
    let array = ArraySpec::from_params(&params, Some(3)).unwrap();
    // Each task notes when it starts and ends (ns) in the server directory.
    let script = "echo \"start $(date +%s%N)\" >> ../../times.txt\n\
                  sleep 0.3\n\
                  printf '%s %s %s|%s\\n' \"$CRIMPL_TASK_ID\" \"$CRIMPL_TASK_COUNT\" \"$alpha\" \"$label\" > out.txt\n\
                  cat input.txt >> out.txt\n\
                  echo \"end $(date +%s%N)\" >> ../../times.txt\n";
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "shared input\n").unwrap();
    let options = SubmitOptions {
        job: Some("sweep".into()),
        files: vec![input],
        array: Some(array),
        ..SubmitOptions::default()
    };
    let job = server.submit(script, &options, &quiet).unwrap().job;
    let record = wait_until(&server, &job, |r| r.status.is_final());
    assert_eq!(record.status, JobStatus::Complete, "{record:?}");
    assert_eq!(record.tasks.len(), 10);
    assert_eq!(count(&record, &JobStatus::Complete), 10);
    assert_eq!(record.tasks[6].name, "task-0007");

    let times = std::fs::read_to_string(dir.path().join("server/times.txt")).unwrap();
    let events: Vec<(u128, i32)> = times
        .lines()
        .map(|line| {
            let (what, at) = line.split_once(' ').unwrap();
            (at.parse().unwrap(), if what == "start" { 1 } else { -1 })
        })
        .collect();
    assert_eq!(events.len(), 20, "each task ran once: {times}");
    let most = most_at_once(events);
    assert!(most <= 3, "{most} tasks ran at once, 3 were allowed");

    let target = dir.path().join("fetched");
    let report = server
        .fetch(&job, &[], &target, UnpackPolicy::default(), &quiet)
        .unwrap();
    assert!(
        report.refused.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.written.len(), 10, "one output per task: {report:?}");
    let out = std::fs::read_to_string(target.join("task-0007/out.txt")).unwrap();
    assert_eq!(out, "7 10 1.75|label 7\nshared input\n");
    let fetched: Vec<String> = std::fs::read_dir(target.join("task-0007"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(fetched, ["out.txt"], "no crimpl files or input links");
}

#[test]
fn merge_gathers_the_tasks_outputs_in_one_folder_unless_two_wrote_one_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "array-test");
    let array = || Some(ArraySpec::from_spec("1-3", None).unwrap());
    let options = |job: &str| SubmitOptions {
        job: Some(job.into()),
        array: array(),
        ..SubmitOptions::default()
    };
    let merged = UnpackPolicy {
        strip_first_part: true,
        ..UnpackPolicy::default()
    };
    let apart = server
        .submit(
            "mkdir -p r && echo \"$CRIMPL_TASK_ID\" > r/$CRIMPL_TASK_ID.txt\n",
            &options("apart"),
            &quiet,
        )
        .unwrap()
        .job;
    let same = server
        .submit(
            "echo \"$CRIMPL_TASK_ID\" > same.txt\n",
            &options("same"),
            &quiet,
        )
        .unwrap()
        .job;
    for job in [&apart, &same] {
        wait_until(&server, job, |r| r.status.is_final());
    }
    let target = dir.path().join("fetched");
    let report = server
        .fetch(&apart, &[], &target, merged.clone(), &quiet)
        .unwrap();
    assert_eq!(report.written.len(), 3, "{report:?}");
    assert_eq!(
        std::fs::read_to_string(target.join("r/2.txt")).unwrap(),
        "2\n"
    );
    assert!(!target.join("task-0002").exists());

    let err = server
        .fetch(&same, &[], &target, merged.clone(), &quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("task-0001 and task-0002 both wrote \"same.txt\""),
        "{err}"
    );
    assert!(!target.join("same.txt").exists(), "nothing was fetched");
    let single = server
        .submit(
            "echo one > one.txt\n",
            &SubmitOptions {
                job: Some("single".into()),
                ..SubmitOptions::default()
            },
            &quiet,
        )
        .unwrap()
        .job;
    wait_until(&server, &single, |r| r.status.is_final());
    let err = server
        .fetch(&single, &[], &target, merged, &quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not an array"), "{err}");

    // ls: an array is told from a single job, and summarised in one pass.
    assert!(server.is_array(&apart).unwrap() && !server.is_array(&single).unwrap());
    let summary = server.task_outputs(&apart).unwrap();
    assert_eq!(summary.tasks, 3);
    let paths: Vec<&String> = summary.paths.keys().collect();
    assert_eq!(paths, ["r/1.txt", "r/2.txt", "r/3.txt"]);
    assert!(summary.own.iter().any(|f| f.path == "crimpl-array.tasks"));
    assert!(summary.without_outputs.is_empty());
}

#[test]
fn a_failed_task_fails_the_array_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "array-test");
    let array = ArraySpec::from_spec("1-5", None).unwrap();
    let job = submit(
        &server,
        "partly",
        "[ \"$CRIMPL_TASK_ID\" != 4 ] || exit 3\n",
        array,
    );
    let record = wait_until(&server, &job, |r| r.status.is_final());
    assert_eq!(record.status, JobStatus::Failed(None));
    let failed: Vec<(&str, &JobStatus)> = record
        .tasks
        .iter()
        .filter(|t| t.status != JobStatus::Complete)
        .map(|t| (t.name.as_str(), &t.status))
        .collect();
    assert_eq!(failed, [("task-0004", &JobStatus::Failed(Some(3)))]);

    // Only the failed task runs again: the others keep their ends.
    let job_dir = dir.path().join("server/crimpl-job-partly");
    std::fs::write(
        job_dir.join("crimpl_submit_script.sh"),
        "echo again > again.txt\n",
    )
    .unwrap();
    assert_eq!(server.resubmit(&job, true).unwrap(), 1);
    let record = wait_until(&server, &job, |r| r.status.is_final());
    assert_eq!(record.status, JobStatus::Complete, "{:?}", record.tasks);
    let again: Vec<bool> = (1..=5)
        .map(|i| job_dir.join(format!("task-000{i}/again.txt")).exists())
        .collect();
    assert_eq!(again, [false, false, false, true, false]);
    let refused = server.resubmit(&job, true).unwrap_err();
    assert!(
        refused.to_string().contains("nothing to run again"),
        "{refused}"
    );
}

#[test]
fn kill_stops_running_tasks_and_the_waiting_ones_never_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "array-test");
    let array = ArraySpec::from_spec("1-6", Some(2)).unwrap();
    let job = submit(&server, "stopped", "touch ran; sleep 300\n", array);
    wait_until(&server, &job, |r| count(r, &JobStatus::Running) == 2);
    server.kill(&job).unwrap();
    let record = wait_until(&server, &job, |r| r.status.is_final());
    assert_eq!(record.status, JobStatus::Canceled, "{record:?}");
    assert_eq!(
        count(&record, &JobStatus::Canceled),
        6,
        "{:?}",
        record.tasks
    );
    let ran = (1..=6)
        .filter(|i| {
            dir.path()
                .join(format!("server/crimpl-job-stopped/task-000{i}/ran"))
                .exists()
        })
        .count();
    assert_eq!(ran, 2, "only the two running tasks had started");
    // Their processes are gone: no sleep of theirs is left.
    for task in &record.tasks {
        assert!(task.ended.is_some() || task.started.is_none(), "{task:?}");
    }
}

#[test]
fn a_chain_whose_first_job_fails_cancels_what_needed_it_and_runs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "array-test");
    let submit_after = |job: &str, script: &str, after: &str| {
        let after = match after {
            "" => Vec::new(),
            after => After::parse_list(after).unwrap(),
        };
        let options = SubmitOptions {
            job: Some(job.into()),
            after,
            ..SubmitOptions::default()
        };
        server.submit(script, &options, &quiet).unwrap().job
    };
    let first = submit_after("first", "sleep 1; exit 2", "");
    let needs = submit_after("needs", "touch ran", "first");
    let anyway = submit_after("anyway", "touch ran", "first:any");
    // Waiting, neither has started.
    let waiting = server.job(&needs).unwrap();
    assert!(
        matches!(waiting.status, JobStatus::Pending(_) | JobStatus::Starting),
        "{waiting:?}"
    );
    let needs = wait_until(&server, &needs, |r| r.status.is_final());
    assert_eq!(needs.status, JobStatus::Canceled);
    assert_eq!(needs.shown(), "canceled: job first it waited for failed");
    assert!(!dir.path().join("server/crimpl-job-needs/ran").exists());
    let anyway = wait_until(&server, &anyway, |r| r.status.is_final());
    assert_eq!(anyway.status, JobStatus::Complete);
    assert_eq!(
        server.job(&first).unwrap().status,
        JobStatus::Failed(Some(2))
    );

    // Once a needed job has failed, waiting for it is refused; an unknown job is not found.
    let options = SubmitOptions {
        job: Some("late".into()),
        after: After::parse_list("first").unwrap(),
        ..SubmitOptions::default()
    };
    let refused = server.submit("true", &options, &quiet).unwrap_err();
    assert!(refused.to_string().contains("would never run"), "{refused}");
    let options = SubmitOptions {
        after: After::parse_list("nosuch").unwrap(),
        ..options
    };
    let missing = server.submit("true", &options, &quiet).unwrap_err();
    assert!(missing.to_string().contains("no such job"), "{missing}");
}

#[test]
fn a_runner_whose_array_is_deleted_stops() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "array-test");
    let array = ArraySpec::from_spec("1-3", Some(1)).unwrap();
    let job = submit(&server, "deleted", "sleep 1\n", array);
    wait_until(&server, &job, |r| count(r, &JobStatus::Running) == 1);
    let job_dir = dir.path().join("server/crimpl-job-deleted");
    let runner = std::fs::read_to_string(job_dir.join("crimpl-job.pid")).unwrap();
    let runner = format!("/proc/{}", runner.trim());
    assert!(Path::new(&runner).exists(), "the runner runs");
    std::fs::remove_dir_all(&job_dir).unwrap();
    let started = Instant::now();
    while Path::new(&runner).exists() {
        assert!(
            started.elapsed() < PATIENCE,
            "the runner of a deleted array goes on"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
