//! The `%crimpl` command language, declared with clap: parsing, `--help` on
//! every command, usage errors, and the tree that completion walks; and the
//! dispatcher ([`Command::apply`]). Each command's arguments and handler
//! live together in a file of their own below (the AWS ones in
//! `magics/aws/`); none imports this module.

use clap::{Parser, Subcommand};

mod env;
mod fetch;
mod jobs;
mod kill;
mod log;
mod ls;
mod resubmit;
mod run;
mod server;
mod show;
mod status;
mod submit;
mod unwatch;
mod wait;

use super::args::{JobArgs, ServerArg};
use super::aws::{self, AwsCommand, JobCommand};
use super::state::State;
use super::{Cancel, MagicError, MagicResult, Output};
use fetch::FetchArgs;
use log::LogArgs;
use resubmit::ResubmitArgs;
use run::RunArgs;
use server::ServerCommand;
use show::ShowArgs;
use status::StatusArgs;
use submit::SubmitArgs;
use unwatch::UnwatchArgs;
use wait::WaitArgs;

pub use env::hide_secrets;

/// `%crimpl` / `%%crimpl`: run compute jobs on local, SSH, Slurm and AWS EC2 servers from notebook cells.
#[derive(Parser, Debug)]
#[command(
    name = "%crimpl",
    no_binary_name = true,
    disable_version_flag = true,
    help_template = "{about}\n\n{usage-heading} {usage}\n\n{all-args}{after-help}",
    after_help = "Cells: `%%crimpl run` / `%%crimpl submit` on the first line send the rest of the cell as the \
                  job script. `$VAR` in a magic line is taken from `%crimpl env`, then the kernel's environment.\n\
                  Servers: a command without --server uses the server chosen with `%crimpl server use NAME`, \
                  else the only server you made, else `local` (this machine, ~/crimpl). \
                  After `%crimpl server new`, `%crimpl server check NAME` tests every step to a working job."
)]
pub struct MagicLine {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make, list, choose and manage servers.
    #[command(subcommand)]
    Server(ServerCommand),
    /// (cell) Run the cell body in the server directory and wait, streaming its output
    /// (an interrupt ends the script).
    Run(RunArgs),
    /// (cell) Submit the cell body as a job; it runs detached and its status updates live.
    Submit(Box<SubmitArgs>),
    /// List every job on the server with its status.
    Jobs(ServerArg),
    /// Show a job's status (an array's: a summary; --tasks lists every task).
    Status(StatusArgs),
    /// Wait for a job to end (or reach --until), showing its status and new log lines.
    Wait(WaitArgs),
    /// Show a job's log (its stdout and stderr).
    Log(LogArgs),
    /// List a job's files, marked input, output or crimpl.
    Ls(JobArgs),
    /// Copy a job's output files (or the PATHs given) into the notebook's directory.
    Fetch(FetchArgs),
    /// Show a job's files here by their type (images, tables, JSON, text), without fetching
    /// them; --follow updates them while the job runs.
    Show(ShowArgs),
    /// Kill a running job; it ends as canceled.
    Kill(JobArgs),
    /// Run a job's script again, in the same job directory (an array's
    /// tasks: all, or with --failed those that did not complete).
    Resubmit(ResubmitArgs),
    /// Stop updating a job's status displays (or every job's with --all); the job goes on.
    Unwatch(UnwatchArgs),
    /// AWS job instances: create, start, stop, terminate, state.
    #[command(subcommand)]
    Job(JobCommand),
    /// AWS account housekeeping: every crimpl instance and volume.
    #[command(subcommand)]
    Aws(AwsCommand),
    /// Set, unset or list the variables that `$NAME` in a magic line expands to.
    Env(env::EnvArgs),
}

/// A magic line read by clap: a command, or the help it asked for.
#[derive(Debug)]
pub enum Parsed {
    /// `--help`, or a command group without its sub-command: the text to show.
    Help(String),
    /// A command, with the words it was read from.
    Command {
        /// The line split like a shell command line.
        words: Vec<String>,
        /// What clap read.
        line: Box<MagicLine>,
    },
}

/// Parse a magic line (after `$VAR` expansion) like a shell command line.
pub fn parse(line: &str) -> Result<Parsed, MagicError> {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, FromArgMatches};
    let words = shlex::split(line)
        .ok_or_else(|| MagicError::Usage(format!("unbalanced quotes in: {line}")))?;
    let parsed = MagicLine::command()
        .bin_name("%crimpl")
        .try_get_matches_from(&words)
        .and_then(|matches| MagicLine::from_arg_matches(&matches));
    match parsed {
        Ok(line) => Ok(Parsed::Command {
            words,
            line: Box::new(line),
        }),
        Err(err) => match err.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                Ok(Parsed::Help(err.render().to_string()))
            }
            _ => Err(MagicError::Usage(err.render().to_string())),
        },
    }
}

/// Which commands take a cell body.
pub fn takes_body(command: &Command) -> bool {
    matches!(command, Command::Run(_) | Command::Submit(_))
}

impl Command {
    /// Run the command with the kernel's `state`: the one place that hands
    /// each command to its handler (`body`: the rest of a `%%crimpl` cell).
    pub async fn apply(
        self,
        state: &State,
        body: &str,
        out: &Output,
        cancel: &Cancel,
    ) -> MagicResult {
        match self {
            Command::Server(command) => server::run(state, command, out).await,
            Command::Run(args) => run::run_script(state, args, body, out, cancel).await,
            Command::Submit(args) => submit::submit(state, *args, body, out, cancel).await,
            Command::Jobs(args) => jobs::list(state, &args, out).await,
            Command::Status(args) => status::status(state, &args, out).await,
            Command::Wait(args) => wait::wait(state, args, out, cancel).await,
            Command::Log(args) => log::log(state, args, out, cancel).await,
            Command::Ls(args) => ls::ls(state, &args, out).await,
            Command::Fetch(args) => fetch::fetch(state, args, out).await,
            Command::Show(args) => show::show(state, args, out, cancel).await,
            Command::Kill(args) => kill::kill(state, &args, out).await,
            Command::Resubmit(args) => resubmit::resubmit(state, &args, out).await,
            Command::Unwatch(args) => unwatch::unwatch(state, &args, out),
            Command::Job(command) => aws::job(state, command, out).await,
            Command::Aws(command) => aws::account(command, out).await,
            Command::Env(args) => env::run(state, args, out),
        }
    }
}
