//! Helpers the engine's Rust tests share (`tests/engine.rs`, `tests/arrays.rs`):
//! a local server in a temporary directory, a submission, and a bounded
//! wait for a job's record to arrive somewhere.

use std::path::Path;
use std::time::{Duration, Instant};

use crimpl_kernel::crimpl::{JobRecord, Server, ServerConfig, SubmitOptions};

/// A progress callback that prints nothing.
pub fn quiet(_: &str) {}

/// A local server called `name` whose directory is `dir/server`.
pub fn local_server(dir: &Path, name: &str) -> Server {
    let config = ServerConfig::Local {
        directory: dir.join("server").to_string_lossy().into_owned(),
    };
    Server::open(name, config).expect("a local server opens")
}

/// Submit `script` with `options`; the job's name.
pub fn submit(server: &Server, script: &str, options: &SubmitOptions) -> String {
    server
        .submit(script, options, &quiet)
        .expect("the job is submitted")
        .job
}

/// The job's record once `done` says it has arrived, read every `poll`;
/// fails the test after `patience` (which only keeps a broken build from
/// hanging).
pub fn wait_until(
    server: &Server,
    job: &str,
    patience: Duration,
    poll: Duration,
    done: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    let started = Instant::now();
    loop {
        let record = server.job(job).expect("the job is found");
        if done(&record) {
            return record;
        }
        assert!(
            started.elapsed() < patience,
            "job {job} still {} after {patience:?}",
            record.status
        );
        std::thread::sleep(poll);
    }
}
