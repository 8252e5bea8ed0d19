//! Running a script in the server directory now, its output streamed back
//! (`%%crimpl run`): the script and its files sent as one tar stream.

use std::path::PathBuf;

use anyhow::bail;
use tokio_util::sync::CancellationToken;

use super::Server;
use super::entries::{Entry, tar_feed, uploads};
use super::options::Plan;
use crate::crimpl::config::ServerConfig;
use crate::crimpl::error::EngineError;
use crate::crimpl::layout;
use crate::crimpl::progress::Progress;
use crate::crimpl::scripts;
use crate::crimpl::slurm::SrunRequest;
use crate::crimpl::transport::Stop;

impl Server {
    /// The command and uploads of `run` (what `--trial-run` shows).
    pub fn plan_run(
        &self,
        script: &str,
        files: &[PathBuf],
        srun: &SrunRequest,
    ) -> anyhow::Result<Plan> {
        let uploads = uploads(files)?;
        let name = layout::run_script_name();
        Ok(Plan {
            target: self.placement.run_target(),
            commands: vec![self.run_command(&name, srun)?],
            uploads: uploads.iter().map(|u| (u.name.clone(), u.size)).collect(),
            scripts: vec![(name, script.into())],
        })
    }

    /// Unpack the script (and files) in the server directory, run it (on a
    /// compute node with `srun.srun`, Slurm servers only), remove it.
    pub(super) fn run_command(
        &self,
        script_name: &str,
        srun: &SrunRequest,
    ) -> anyhow::Result<String> {
        let launcher = match (&self.config, srun.srun) {
            (_, false) => String::new(),
            (ServerConfig::Slurm { defaults, .. }, true) => srun.launcher(defaults)?,
            (config, true) => bail!(EngineError::Usage(format!(
                "--srun runs the cell on a Slurm compute node: {} is a {} server \
                 (leave out --srun, or choose a Slurm server with --server)",
                self.name,
                config.kind()
            ))),
        };
        scripts::run_in_directory(
            &scripts::directory_word(self.directory())?,
            self.config.directory_mode(),
            script_name,
            &layout::run_pid_name(script_name),
            &launcher,
        )
    }

    /// Run `script` in the server directory (after sending `files` there;
    /// on a compute node through srun with `srun.srun`),
    /// handing its output (stdout and stderr interleaved) to `output` as it
    /// comes; returns its exit code. When `stop` fires, the script's whole
    /// process group is ended and the error is a
    /// [`Stopped`](super::transport::Stopped) saying so.
    pub fn run_script(
        &self,
        script: &str,
        files: &[PathBuf],
        srun: &SrunRequest,
        progress: Progress<'_>,
        output: &mut dyn FnMut(&[u8]),
        stop: &CancellationToken,
    ) -> anyhow::Result<Option<i32>> {
        let uploads = uploads(files)?;
        let script_name = layout::run_script_name();
        let mut entries = vec![Entry::text(&script_name, script, 0o644)];
        entries.extend(uploads);
        let command = self.run_command(&script_name, srun)?;
        let stop = Stop {
            token: stop.clone(),
            command: scripts::stop_run(
                &scripts::directory_word(self.directory())?,
                &script_name,
                &layout::run_pid_name(&script_name),
            )?,
        };
        let transport = self.placement.run_transport(progress)?;
        let finished = transport.exec_stoppable(
            &command,
            Some(tar_feed(entries)),
            &mut |reader| {
                let mut buffer = [0u8; 8192];
                loop {
                    let n = reader.read(&mut buffer)?;
                    if n == 0 {
                        return Ok(());
                    }
                    output(&buffer[..n]);
                }
            },
            Some(&stop),
        )?;
        if !finished.stderr.trim().is_empty() {
            output(finished.stderr.as_bytes());
        }
        Ok(finished.code)
    }
}
