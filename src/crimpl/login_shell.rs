//! Commands in a login shell, for servers made with `--login-shell`: on
//! clusters where `sbatch`, `module` or site tools come from `/etc/profile.d`
//! or the user's profile, a plain `sh -c` does not find them.

use std::sync::Arc;

use super::scripts::quote;
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

/// `command` run by a login shell: its profile is read first.
pub fn wrap(command: &str) -> anyhow::Result<String> {
    let quoted = quote(command)?;
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
        self.inner
            .exec_stoppable(&wrap(command)?, stdin, stdout, stop)
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
