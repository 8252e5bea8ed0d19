//! Commands in a login shell, for servers made with `--login-shell`: on
//! clusters where `sbatch`, `module` or site tools come from `/etc/profile.d`
//! or the user's profile, a plain `sh -c` does not find them. What the
//! profile prints is set aside, as for any startup file (see `framing`).

use std::io::Read;
use std::sync::Arc;

use super::scripts::quote;
use super::transport::framing::{self, AfterMarker};
use super::transport::{Finished, StdinFeed, StdoutSink, Stop, Transport};

/// A transport whose commands run in a login shell (bash where there is
/// one, else sh) on the same host.
pub struct LoginShell {
    inner: Arc<dyn Transport>,
}

impl LoginShell {
    /// Commands of `inner`, each through a login shell.
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        Self { inner }
    }
}

/// `command` run by a login shell: its profile is read first (and what it
/// prints comes before the command's marker lines).
pub fn wrap(command: &str) -> anyhow::Result<String> {
    let quoted = quote(&framing::marked(command))?;
    Ok(format!(
        "if command -v bash > /dev/null; then exec bash -l -c {quoted}; else exec sh -l -c {quoted}; fi"
    ))
}

impl Transport for LoginShell {
    fn describe(&self) -> String {
        format!("{} (login shell)", self.inner.describe())
    }

    fn exec_stoppable(
        &self,
        command: &str,
        stdin: Option<StdinFeed<'_>>,
        stdout: StdoutSink<'_>,
        stop: Option<&Stop>,
    ) -> anyhow::Result<Finished> {
        let mut profile_stdout = String::new();
        let mut own_output = |reader: &mut dyn Read| {
            let mut own = AfterMarker::new(reader);
            let read = stdout(&mut own);
            profile_stdout = own.skipped();
            read
        };
        let mut finished =
            self.inner
                .exec_stoppable(&wrap(command)?, stdin, &mut own_output, stop)?;
        let (profile_stderr, own_stderr) = framing::split_stderr(&finished.stderr);
        finished.startup_output = format!(
            "{}{profile_stdout}{profile_stderr}",
            finished.startup_output
        );
        finished.stderr = own_stderr.to_string();
        Ok(finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crimpl::transport::LocalTransport;

    #[test]
    fn commands_keep_their_quoting_through_the_login_shell() {
        let shell = LoginShell::new(Arc::new(LocalTransport));
        let said = shell
            .check("printf '%s|' \"a b\" '$HOME'; echo", None, "a test")
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&said), "a b|$HOME|\n");
    }
}
