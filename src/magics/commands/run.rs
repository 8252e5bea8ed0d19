//! `%%crimpl run`: run the cell body in the server directory now, streaming
//! its output (an interrupt ends the script).

use std::path::PathBuf;

use clap::Args;
use tokio::sync::mpsc;

use crate::crimpl::Stopped;
use crate::crimpl::slurm::SrunRequest;
use crate::magics::args::ServerArg;
use crate::magics::job_command::local_paths;
use crate::magics::offload::progress_to;
use crate::magics::state::State;
use crate::magics::utf8::Utf8Stream;
use crate::magics::{Cancel, MagicError, MagicResult, Output, StreamName, render};

/// `%%crimpl run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Files to send into the server directory first.
    #[arg(long, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Show what would be sent and run, and send nothing.
    #[arg(long)]
    pub trial_run: bool,
    #[command(flatten)]
    pub srun: SrunRequest,
}

/// Chunks of `run` output read ahead of what the cell has shown.
const RUN_OUTPUT_CHUNKS: usize = 16;

/// `%%crimpl run`: run the body in the server directory, streaming its output.
pub async fn run_script(
    state: &State,
    args: RunArgs,
    body: &str,
    out: &Output,
    cancel: &Cancel,
) -> MagicResult {
    let server = state.server(&args.server)?;
    let files = local_paths(state, &args.files);
    if args.trial_run {
        let plan = server.plan_run(body, &files, &args.srun)?;
        out.display(&render::plan("run", &plan), None);
        return Ok(());
    }
    // Bounded: a script printing faster than the kernel publishes waits for it
    // (its output pipe fills), rather than the kernel's memory growing.
    let (tx, mut chunks) = mpsc::channel::<Vec<u8>>(RUN_OUTPUT_CHUNKS);
    let script = body.to_string();
    let runner = server.clone();
    let progress = progress_to(out);
    let stop = cancel.clone();
    let srun = args.srun.clone();
    let task = tokio::task::spawn_blocking(move || {
        runner.run_script(
            &script,
            &files,
            &srun,
            &progress,
            &mut |chunk| {
                // Fails only if the cell stopped reading (it reads until the run ends).
                let _ = tx.blocking_send(chunk.to_vec());
            },
            &stop,
        )
    });
    let mut task = std::pin::pin!(task);
    let mut text = Utf8Stream::default();
    let mut interrupted = false;
    loop {
        tokio::select! {
            chunk = chunks.recv() => match chunk {
                Some(chunk) => out.stream(StreamName::Stdout, &text.decode(&chunk)),
                None => {
                    out.stream(StreamName::Stdout, &text.finish());
                    break;
                }
            },
            // The engine sees the same token and stops the script: say so now, and wait for it.
            _ = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                out.stream(StreamName::Stdout, &text.finish());
                out.stream(
                    StreamName::Stderr,
                    &format!("Interrupted: stopping the script on {}...\n", server.name()),
                );
            }
        }
    }
    let code = match task
        .as_mut()
        .await
        .map_err(|e| MagicError::Crimpl(anyhow::anyhow!("run task failed: {e}")))?
    {
        Err(err) if err.downcast_ref::<Stopped>().is_some() => {
            return Err(MagicError::Interrupted(format!(
                "On {}: {err}; the server is free for the next command.",
                server.name()
            )));
        }
        other => other?,
    };
    match code {
        Some(0) => Ok(()),
        Some(code) => Err(MagicError::Crimpl(anyhow::anyhow!(
            "the script exited with code {code} on {}",
            server.name()
        ))),
        None => Err(MagicError::Crimpl(anyhow::anyhow!(
            "the script was killed by a signal on {}",
            server.name()
        ))),
    }
}
