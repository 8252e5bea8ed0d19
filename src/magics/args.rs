//! The arguments many commands share (`--server NAME`, a job and its
//! server), below both the parser and the state that resolves them.

use clap::Args;

/// `--server NAME`.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerArg {
    /// The server (default: the one chosen with `server use`, or the only one).
    #[arg(long)]
    pub server: Option<String>,
}

/// A job and its server.
#[derive(Args, Debug, Clone)]
pub struct JobArgs {
    /// The job's name (default: this kernel's latest job).
    pub job: Option<String>,
    #[command(flatten)]
    pub server: ServerArg,
}
