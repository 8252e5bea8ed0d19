//! The crimpl engine used from plain Rust, without Jupyter: a local server on
//! a temporary directory, and the whole job cycle through `Server`'s API
//! (submit, status, jobs, log, ls, fetch, kill, resubmit, run, failures,
//! hostile names).

use std::path::Path;
use std::time::Duration;

use common::{local_server, quiet};
use crimpl_kernel::crimpl::layout;
use crimpl_kernel::crimpl::scripts::LogKind;
use crimpl_kernel::crimpl::slurm::SrunRequest;
use crimpl_kernel::crimpl::{JobStatus, KillOutcome, Server, SubmitOptions, UnpackPolicy};
use tokio_util::sync::CancellationToken;

mod common;

/// How long a job of these tests may take to reach a status (they take
/// well under a second; the bound only keeps a broken build from hanging).
const PATIENCE: Duration = Duration::from_secs(60);

fn submit(server: &Server, job: &str, script: &str) -> String {
    let options = SubmitOptions {
        job: Some(job.into()),
        ..SubmitOptions::default()
    };
    common::submit(server, script, &options)
}

/// The job's status once `done` says it has arrived.
fn wait_until(server: &Server, job: &str, done: impl Fn(&JobStatus) -> bool) -> JobStatus {
    common::wait_until(server, job, PATIENCE, Duration::from_millis(50), |r| {
        done(&r.status)
    })
    .status
}

fn log_of(server: &Server, job: &str) -> String {
    let bytes = server
        .log(job, LogKind::Job, 0, 1 << 20)
        .expect("the log is read");
    String::from_utf8(bytes).expect("the log is UTF-8")
}

#[test]
fn a_job_runs_is_listed_logged_and_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    let job = submit(
        &server,
        "cycle",
        "echo started; mkdir -p results; echo 42 > results/answer.txt",
    );
    assert_eq!(job, "cycle");
    assert_eq!(
        wait_until(&server, &job, JobStatus::is_final),
        JobStatus::Complete
    );

    let names: Vec<String> = server.jobs().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["cycle".to_string()]);
    let record = server.job(&job).unwrap();
    assert!(record.started.is_some() && record.ended.is_some());
    assert!(log_of(&server, &job).contains("started"));

    let listing = server.ls(&job, None, false).unwrap();
    assert!(
        listing
            .files
            .iter()
            .any(|f| f.path == "results/answer.txt" && f.size == 3),
        "{:?}",
        listing.files
    );

    let target = dir.path().join("notebook");
    std::fs::create_dir(&target).unwrap();
    let report = server
        .fetch(&job, &[], &target, UnpackPolicy::default(), &quiet)
        .unwrap();
    assert!(report.failed.is_empty() && report.refused.is_empty());
    assert_eq!(
        std::fs::read_to_string(target.join("results/answer.txt")).unwrap(),
        "42\n"
    );

    // A second fetch finds the same content: nothing written, nothing lost.
    let again = server
        .fetch(&job, &[], &target, UnpackPolicy::default(), &quiet)
        .unwrap();
    assert!(again.written.is_empty(), "{:?}", again.written);
    assert!(!again.unchanged.is_empty());
}

#[test]
fn a_fetch_never_overwrites_a_changed_file_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    let job = submit(&server, "keep", "echo remote > out.txt");
    wait_until(&server, &job, JobStatus::is_final);
    let target = dir.path().join("notebook");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("out.txt"), "mine\n").unwrap();

    let report = server
        .fetch(&job, &[], &target, UnpackPolicy::default(), &quiet)
        .unwrap();
    assert_eq!(report.kept, vec![Path::new("out.txt").to_path_buf()]);
    assert_eq!(
        std::fs::read_to_string(target.join("out.txt")).unwrap(),
        "mine\n"
    );

    let overwrite = UnpackPolicy {
        overwrite: true,
        ..UnpackPolicy::default()
    };
    server.fetch(&job, &[], &target, overwrite, &quiet).unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("out.txt")).unwrap(),
        "remote\n"
    );
}

#[test]
fn a_failing_script_reports_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    let job = submit(&server, "fails", "echo about to fail >&2; exit 7");
    assert_eq!(
        wait_until(&server, &job, JobStatus::is_final),
        JobStatus::Failed(Some(7))
    );
    assert!(log_of(&server, &job).contains("about to fail"));
    assert_eq!(
        server.job(&job).unwrap().reason,
        None,
        "an exit code is no signal"
    );
}

#[test]
fn a_script_killed_by_a_signal_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    // What the out-of-memory killer does to a script: SIGKILL.
    let job = submit(&server, "oom", "kill -KILL $$");
    assert_eq!(
        wait_until(&server, &job, JobStatus::is_final),
        JobStatus::Failed(Some(137))
    );
    let shown = server.job(&job).unwrap().shown();
    assert!(shown.starts_with("killed by signal 9 (SIGKILL"), "{shown}");
    assert!(shown.contains("out-of-memory"), "{shown}");
}

#[test]
fn kill_cancels_a_running_job_and_resubmit_runs_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    let job = submit(
        &server,
        "sleeper",
        "echo run >> runs.txt; echo running; sleep 600",
    );
    wait_until(&server, &job, |s| *s == JobStatus::Running);
    assert!(matches!(server.kill(&job).unwrap(), KillOutcome::Signalled));
    assert_eq!(
        wait_until(&server, &job, JobStatus::is_final),
        JobStatus::Canceled
    );
    // Killing an ended job signals nothing.
    assert!(matches!(
        server.kill(&job).unwrap(),
        KillOutcome::AlreadyEnded(_)
    ));

    server.resubmit(&job, false).unwrap();
    wait_until(&server, &job, |s| *s == JobStatus::Running);
    server.kill(&job).unwrap();
    wait_until(&server, &job, JobStatus::is_final);
    let job_dir = dir.path().join("server").join(layout::job_dir_name(&job));
    assert_eq!(
        std::fs::read_to_string(job_dir.join("runs.txt")).unwrap(),
        "run\nrun\n"
    );
}

#[test]
fn an_unknown_job_is_an_error_naming_the_close_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    let job = submit(&server, "analysis", "true");
    wait_until(&server, &job, JobStatus::is_final);
    let err = format!("{:#}", server.job("analysys").unwrap_err());
    assert!(err.contains("no job \"analysys\""), "{err}");
    assert!(err.contains("analysis"), "{err}");
    assert!(server.find_job("analysys").unwrap().is_none());
}

#[test]
fn hostile_job_names_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    for name in ["../escape", "a b", "x;rm -rf ~", "", "-n"] {
        let options = SubmitOptions {
            job: Some(name.into()),
            ..SubmitOptions::default()
        };
        assert!(
            server.submit("true", &options, &quiet).is_err(),
            "job name {name:?} was accepted"
        );
    }
    assert!(server.jobs().unwrap().is_empty());
}

#[test]
fn hostile_file_names_in_outputs_come_back_intact() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    let job = submit(
        &server,
        "names",
        "printf x > 'quote'\\''s \"and\" $HOME.txt'; printf y > 'ünïcødé 🚀.txt'; printf z > ' -leading dash'",
    );
    assert_eq!(
        wait_until(&server, &job, JobStatus::is_final),
        JobStatus::Complete
    );
    let target = dir.path().join("notebook");
    std::fs::create_dir(&target).unwrap();
    server
        .fetch(&job, &[], &target, UnpackPolicy::default(), &quiet)
        .unwrap();
    for (name, content) in [
        ("quote's \"and\" $HOME.txt", "x"),
        ("ünïcødé 🚀.txt", "y"),
        (" -leading dash", "z"),
    ] {
        assert_eq!(
            std::fs::read_to_string(target.join(name)).unwrap(),
            content,
            "{name}"
        );
    }
}

#[test]
fn run_streams_output_returns_the_exit_code_and_can_be_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    let mut output = Vec::new();
    let code = server
        .run_script(
            "echo one; echo two >&2; exit 3",
            &[],
            &SrunRequest::default(),
            &quiet,
            &mut |bytes| output.extend_from_slice(bytes),
            &CancellationToken::new(),
        )
        .unwrap();
    assert_eq!(code, Some(3));
    let text = String::from_utf8(output).unwrap();
    assert!(text.contains("one") && text.contains("two"), "{text}");

    // Stopped half a second in: without the stop, `sleep 600` would end with 0.
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let stopped = std::thread::scope(|scope| {
        scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            stopper.cancel();
        });
        server.run_script(
            "sleep 600",
            &[],
            &SrunRequest::default(),
            &quiet,
            &mut |_| {},
            &stop,
        )
    });
    let err = stopped.expect_err("a stopped run is an error saying so");
    assert!(
        err.downcast_ref::<crimpl_kernel::crimpl::Stopped>()
            .is_some(),
        "{err:#}"
    );
}

#[test]
fn a_job_killed_the_moment_it_is_submitted_is_canceled() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "engine-test");
    for i in 0..5 {
        let job = submit(&server, &format!("brief{i}"), "sleep 600");
        assert!(
            matches!(server.kill(&job).unwrap(), KillOutcome::Signalled),
            "{job}"
        );
        assert_eq!(
            wait_until(&server, &job, JobStatus::is_final),
            JobStatus::Canceled
        );
    }
}
