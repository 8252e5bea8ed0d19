//! Named submits run again, through the engine on a local server: the same
//! cell reattaches to its job (reused when it completed, resumed when it
//! failed: an array's failed tasks only), a changed cell is refused with
//! what changed, `--rerun` and `--replace` do what they say, a submit cut
//! short is finished, and the manifest records attempts and outputs.

use std::path::Path;
use std::time::Duration;

use common::{local_server, quiet};
use crimpl_kernel::crimpl::after::After;
use crimpl_kernel::crimpl::array::ArraySpec;
use crimpl_kernel::crimpl::manifest::{MANIFEST_FILE, Manifest, file_sha256};
use crimpl_kernel::crimpl::{
    EngineError, ExistingJob, JobRecord, JobStatus, Server, SubmitOptions, SubmitOutcome,
};

mod common;

/// Bounds a broken build's hang; jobs here end in well under a second.
const PATIENCE: Duration = Duration::from_secs(60);

fn named(job: &str) -> SubmitOptions {
    SubmitOptions {
        job: Some(job.into()),
        ..SubmitOptions::default()
    }
}

fn ended(server: &Server, job: &str) -> JobRecord {
    common::wait_until(server, job, PATIENCE, Duration::from_millis(50), |r| {
        r.status.is_final()
    })
}

fn outcome(server: &Server, script: &str, options: &SubmitOptions) -> SubmitOutcome {
    server
        .submit(script, options, &quiet)
        .expect("the submit succeeds")
        .outcome
}

fn job_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("server"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("crimpl-job-"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_same_cell_again_reuses_a_completed_job_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "again");
    let input = dir.path().join("data.txt");
    std::fs::write(&input, "42\n").unwrap();
    let options = SubmitOptions {
        files: vec![input.clone()],
        ..named("fit")
    };
    let script = "cat data.txt > out.txt; date +%s%N >> runs.txt\n";
    assert_eq!(outcome(&server, script, &options), SubmitOutcome::New);
    assert_eq!(ended(&server, "fit").status, JobStatus::Complete);
    let runs = dir.path().join("server/crimpl-job-fit/runs.txt");
    let before = std::fs::read_to_string(&runs).unwrap();

    assert_eq!(outcome(&server, script, &options), SubmitOutcome::Reused);
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap(),
        before,
        "it ran again"
    );
    assert_eq!(job_dirs(dir.path()), vec!["crimpl-job-fit"]);

    // The manifest, completed once the job ended: the output's sha256 as here.
    let manifest = server.manifest("fit").unwrap().expect("a manifest");
    let end = manifest.end.expect("the end is recorded");
    assert_eq!(end.status, "complete");
    assert_eq!(end.exit_code, Some(0));
    let outputs: Vec<&str> = end.outputs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        outputs,
        vec!["out.txt", "runs.txt"],
        "inputs are not outputs"
    );
    let out = dir.path().join("server/crimpl-job-fit/out.txt");
    assert_eq!(end.outputs[0].sha256, file_sha256(&out).unwrap());
    assert_eq!(end.outputs[0].size, 3);
    assert_eq!(manifest.inputs[0].name, "data.txt");
    assert_eq!(manifest.inputs[0].sha256, file_sha256(&input).unwrap());
}

#[test]
fn a_changed_cell_is_refused_with_what_changed_and_replace_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "changed");
    let input = dir.path().join("data.txt");
    std::fs::write(&input, "1\n").unwrap();
    let options = SubmitOptions {
        files: vec![input.clone()],
        ..named("fit")
    };
    common::submit(&server, "true\n", &named("dep"));
    ended(&server, "dep");
    outcome(&server, "echo one > one.txt\necho two\n", &options);
    ended(&server, "fit");

    std::fs::write(&input, "2\n").unwrap();
    let changed = SubmitOptions {
        after: After::parse_list("dep").unwrap(),
        ..options.clone()
    };
    let err = server
        .submit("echo one > one.txt\necho three\n", &changed, &quiet)
        .unwrap_err();
    assert_eq!(
        EngineError::of(&err).map(EngineError::name),
        Some("AlreadyExists")
    );
    let said = format!("{err:#}");
    for part in [
        "the script: 2 lines differ",
        "input data.txt: its content changed",
        "--after: (not set) -> dep ok",
        "--replace",
    ] {
        assert!(said.contains(part), "{part:?} missing from: {said}");
    }

    let replace = SubmitOptions {
        existing: ExistingJob::Replace,
        ..changed
    };
    match outcome(&server, "echo three > three.txt\n", &replace) {
        SubmitOutcome::Replaced { removed, more } => {
            assert_eq!(removed, vec!["data.txt", "one.txt"]);
            assert_eq!(more, 0);
        }
        other => panic!("not replaced: {other:?}"),
    }
    ended(&server, "fit");
    let job_dir = dir.path().join("server/crimpl-job-fit");
    assert!(job_dir.join("three.txt").exists());
    assert!(
        !job_dir.join("one.txt").exists(),
        "the old job's files went"
    );
}

#[test]
fn a_failed_job_runs_again_and_the_manifest_keeps_each_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "failed");
    // Fails the first time, completes the second.
    let script = "if [ -e tried ]; then echo done > out.txt; else touch tried; exit 3; fi\n";
    outcome(&server, script, &named("flaky"));
    assert_eq!(ended(&server, "flaky").status, JobStatus::Failed(Some(3)));
    let first = server.manifest("flaky").unwrap().unwrap();
    assert_eq!(first.end.as_ref().unwrap().exit_code, Some(3));

    match outcome(&server, script, &named("flaky")) {
        SubmitOutcome::Resumed { tasks: 0, after } => {
            assert_eq!(after, "failed (exit code 3)")
        }
        other => panic!("not resumed: {other:?}"),
    }
    assert_eq!(ended(&server, "flaky").status, JobStatus::Complete);
    let manifest = server.manifest("flaky").unwrap().unwrap();
    let attempts: Vec<(u32, Option<&str>)> = manifest
        .attempts
        .iter()
        .map(|a| (a.number, a.after.as_deref()))
        .collect();
    assert_eq!(attempts, vec![(1, None), (2, Some("failed (exit code 3)"))]);
    assert_eq!(manifest.end.unwrap().status, "complete");

    // --rerun runs even a completed job again.
    let rerun = SubmitOptions {
        existing: ExistingJob::Rerun,
        ..named("flaky")
    };
    assert_eq!(
        outcome(&server, script, &rerun),
        SubmitOutcome::Rerun { tasks: 0 }
    );
    ended(&server, "flaky");
    assert_eq!(server.manifest("flaky").unwrap().unwrap().attempts.len(), 3);
}

#[test]
fn an_array_resumes_only_the_tasks_that_did_not_complete() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "sweep");
    // Task 3 fails on its first run; every run of a task is counted.
    let script = "echo run >> runs.txt\n\
                  if [ \"$CRIMPL_TASK_ID\" = 3 ] && [ ! -e ../task3-tried ]; then touch ../task3-tried; exit 1; fi\n";
    let options = SubmitOptions {
        array: Some(ArraySpec::from_spec("1-4", None).unwrap()),
        ..named("sweep")
    };
    outcome(&server, script, &options);
    assert!(ended(&server, "sweep").status.is_error());

    match outcome(&server, script, &options) {
        SubmitOutcome::Resumed { tasks, .. } => assert_eq!(tasks, 1),
        other => panic!("not resumed: {other:?}"),
    }
    assert_eq!(ended(&server, "sweep").status, JobStatus::Complete);
    let runs = |task: &str| {
        std::fs::read_to_string(
            dir.path()
                .join(format!("server/crimpl-job-sweep/{task}/runs.txt")),
        )
        .unwrap()
        .lines()
        .count()
    };
    assert_eq!(runs("task-0001"), 1, "a completed task ran again");
    assert_eq!(runs("task-0003"), 2);
    let manifest = server.manifest("sweep").unwrap().unwrap();
    assert_eq!(
        manifest.attempts[1].why,
        "resumed: 1 task(s) that did not complete"
    );
    assert_eq!(
        manifest
            .end
            .unwrap()
            .scheduler
            .get("tasks")
            .map(String::as_str),
        Some("4 of 4 complete")
    );
}

#[test]
fn a_submit_cut_short_before_the_job_started_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "cut");
    let script = "echo ok > out.txt\n";
    let plan_dir = dir.path().join("plan");
    std::fs::create_dir(&plan_dir).unwrap();
    // What a submit killed mid-upload leaves: the directory, the manifest
    // and the script, no status.
    common::submit(&server, script, &named("probe"));
    ended(&server, "probe");
    let manifest_text = std::fs::read_to_string(
        dir.path()
            .join("server/crimpl-job-probe")
            .join(MANIFEST_FILE),
    )
    .unwrap();
    let mut manifest = Manifest::parse(manifest_text.as_bytes()).unwrap();
    manifest.end = None;
    let cut = dir.path().join("server/crimpl-job-jc");
    std::fs::create_dir(&cut).unwrap();
    std::fs::write(cut.join(MANIFEST_FILE), manifest.to_json()).unwrap();
    std::fs::write(cut.join("crimpl_submit_script.sh"), script).unwrap();
    assert_eq!(server.job("jc").unwrap().status, JobStatus::NotSubmitted);

    // While another kernel's submit still unpacks there, it is not taken.
    let locked = cut.join("crimpl-job.submitting");
    let mut holder = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(&locked)
        .args(["sleep", "60"])
        .spawn()
        .expect("flock runs");
    common::wait_until(&server, "jc", PATIENCE, Duration::from_millis(20), |_| {
        locked.exists()
    });
    let busy = server.submit(script, &named("jc"), &quiet).unwrap_err();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        format!("{busy:#}").contains("being submitted by another kernel"),
        "{busy:#}"
    );

    assert_eq!(
        outcome(&server, script, &named("jc")),
        SubmitOutcome::Finished
    );
    assert_eq!(ended(&server, "jc").status, JobStatus::Complete);
    assert!(cut.join("out.txt").exists());
}

#[test]
fn a_job_without_a_manifest_is_not_guessed_at() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(dir.path(), "old");
    common::submit(&server, "true\n", &named("old"));
    ended(&server, "old");
    std::fs::remove_file(dir.path().join("server/crimpl-job-old").join(MANIFEST_FILE)).unwrap();
    let err = server.submit("true\n", &named("old"), &quiet).unwrap_err();
    let said = format!("{err:#}");
    assert!(
        said.contains("--rerun") && said.contains("--replace"),
        "{said}"
    );
    assert!(server.manifest("old").unwrap().is_none());
}
