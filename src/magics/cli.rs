//! The `%crimpl` command language, declared with clap: parsing, `--help` on
//! every command, usage errors, and the tree that completion walks.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::MagicError;
pub use super::args::{JobArgs, ServerArg};
use super::numbers;

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
    Env(super::env::EnvArgs),
}

/// `%crimpl job ...` (AWS job instances).
#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Plan a job (and with --start, launch its instance now).
    Create {
        #[command(flatten)]
        server: ServerArg,
        /// The job's name (default: from the date and time).
        #[arg(long)]
        job: Option<String>,
        /// Processors (1 to 65536): the instance is the smallest type with at least this many vCPUs.
        #[arg(long, default_value_t = 4, value_parser = numbers::nprocs())]
        nprocs: u32,
        /// The instance type instead of --nprocs.
        #[arg(long)]
        instance_type: Option<String>,
        /// Launch the instance now (it then holds the volume).
        #[arg(long)]
        start: bool,
    },
    /// Start a job's stopped instance.
    Start(JobArgs),
    /// Stop a job's instance (it keeps its state; the volume stays attached).
    Stop(JobArgs),
    /// Terminate a job's instance.
    Terminate(JobArgs),
    /// Show a job's instance and its state.
    State(JobArgs),
}

/// `%crimpl aws ...`
#[derive(Subcommand, Debug)]
pub enum AwsCommand {
    /// Every instance tagged by crimpl, with its state and region.
    Instances {
        #[command(flatten)]
        regions: Regions,
    },
    /// Every volume tagged by crimpl.
    Volumes {
        #[command(flatten)]
        regions: Regions,
    },
    /// Terminate one crimpl instance.
    Terminate {
        /// The instance id (i-...).
        instance_id: String,
        #[command(flatten)]
        regions: Regions,
    },
    /// Delete one crimpl volume (it must be detached).
    DeleteVolume {
        /// The volume id (vol-...).
        volume_id: String,
        #[command(flatten)]
        regions: Regions,
    },
    /// Terminate every crimpl instance.
    TerminateAll {
        /// Confirm.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        regions: Regions,
    },
    /// Delete every crimpl volume (terminating their instances first).
    DeleteAllVolumes {
        /// Confirm.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        regions: Regions,
    },
    /// Estimate what crimpl's instances, volumes and public addresses cost per hour.
    Cost {
        #[command(flatten)]
        regions: Regions,
    },
}

/// The regions an `aws` command covers (default: the kernel's, from
/// `AWS_REGION` or the profile).
#[derive(Args, Debug, Clone, Default)]
pub struct Regions {
    /// Cover every region enabled for the account.
    #[arg(long)]
    pub all_regions: bool,
    /// Cover this region instead of the kernel's.
    #[arg(long, conflicts_with = "all_regions")]
    pub region: Option<String>,
}

impl Regions {
    /// The coverage these options ask for.
    pub fn coverage(&self) -> crate::crimpl::aws::region::Coverage {
        use crate::crimpl::aws::region::Coverage;
        match (&self.region, self.all_regions) {
            (_, true) => Coverage::All,
            (Some(region), false) => Coverage::Named(region.clone()),
            (None, false) => Coverage::Current,
        }
    }
}

/// `%crimpl server ...`
#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Make a new server and remember it by name.
    New(Box<NewArgs>),
    /// List the remembered servers.
    List,
    /// Make NAME the server for commands without --server.
    Use {
        /// The server's name.
        name: String,
    },
    /// Check every step from here to a working job: ok / failed / skipped, each with its time and next step.
    Check {
        /// The server's name (default: the one a command without --server uses).
        name: Option<String>,
    },
    /// Show a server's settings.
    Show {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// Forget a server (nothing on the server is touched).
    Remove {
        /// The server's name.
        name: String,
    },
    /// AWS: start the server instance (1 vCPU) with the volume mounted.
    Start {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: stop the server instance (the volume stays).
    Stop {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: terminate the server instance (the volume stays).
    Terminate {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: pin the current Ubuntu 24.04 LTS images (or --image-id) for the server's instances.
    UpdateImage {
        /// The server's name (default: the current one).
        name: Option<String>,
        /// Pin this image instead (for its architecture).
        #[arg(long)]
        image_id: Option<String>,
    },
    /// AWS: the server instance's state.
    State {
        /// The server's name (default: the current one).
        name: Option<String>,
    },
    /// AWS: terminate the server's instances and delete its volume (its files are lost).
    DeleteVolume {
        /// The server's name (default: the current one).
        name: Option<String>,
        /// Confirm.
        #[arg(long)]
        yes: bool,
    },
    /// Trust an SSH host's key: record it in known_hosts if it has FINGERPRINT.
    Trust {
        /// The server's name.
        name: String,
        /// The fingerprint shown by the error (SHA256:...), checked against the host's own.
        fingerprint: String,
    },
}

/// `%crimpl server new [--replace] KIND ...`
#[derive(Args, Debug)]
pub struct NewArgs {
    /// Replace a remembered server of the same name (re-runnable notebooks).
    #[arg(long, global = true)]
    pub replace: bool,
    /// The kind of server.
    #[command(subcommand)]
    pub kind: NewServer,
}

/// The kinds of `%crimpl server new`.
#[derive(Subcommand, Debug)]
pub enum NewServer {
    /// Jobs run on this machine.
    Local {
        /// The server's name.
        name: String,
        /// Directory holding the jobs.
        #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
        directory: String,
    },
    /// Jobs run detached on an SSH host.
    Ssh {
        /// The server's name.
        name: String,
        /// An ~/.ssh/config alias or user@host[:port].
        #[arg(long)]
        host: String,
        /// Directory holding the jobs on the host.
        #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
        directory: String,
        /// Run commands in a login shell (site PATHs from /etc/profile.d, `module`); slower.
        #[arg(long)]
        login_shell: bool,
        /// Jump host(s) to go through, as `ssh -J`: HOST, user@host:port, or a chain A,B
        /// (instead of ProxyJump in ~/.ssh/config).
        #[arg(long, value_name = "HOST")]
        jump: Option<String>,
    },
    /// Jobs go through sbatch on a Slurm cluster's login node.
    Slurm {
        /// The server's name.
        name: String,
        /// The login node: an ~/.ssh/config alias or user@host[:port].
        #[arg(long)]
        host: String,
        /// Directory holding the jobs on the cluster.
        #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
        directory: String,
        /// Jump host(s) to go through, as `ssh -J`: HOST, user@host:port, or a chain A,B
        /// (instead of ProxyJump in ~/.ssh/config).
        #[arg(long, value_name = "HOST")]
        jump: Option<String>,
        /// Where Slurm mails job events.
        #[arg(long)]
        mail_user: Option<String>,
        /// Defaults for every job's sbatch options (a job's own options win).
        #[command(flatten)]
        defaults: SlurmDefaultArgs,
        /// Least seconds between two squeue of this server's watchers (1 to 86400; default 30).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86400))]
        poll_floor: Option<u64>,
        /// Run commands and the batch script in a login shell (site PATHs, `module`); slower.
        #[arg(long)]
        login_shell: bool,
    },
    /// An EBS volume, a 1-vCPU server instance and job instances on AWS EC2.
    Aws(NewAwsArgs),
}

/// sbatch options with a per-server default and a per-job value.
#[derive(Args, Debug, Clone, Default)]
pub struct SlurmDefaultArgs {
    /// Slurm: the account to charge (--account).
    #[arg(long, help_heading = "Slurm")]
    pub account: Option<String>,
    /// Slurm: the quality of service (--qos).
    #[arg(long, help_heading = "Slurm")]
    pub qos: Option<String>,
    /// Slurm: the partition (default: the cluster's).
    #[arg(long, help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Slurm: memory per node (--mem, e.g. 4G).
    #[arg(long, help_heading = "Slurm")]
    pub mem: Option<String>,
    /// Slurm: GPUs (--gpus, e.g. 1 or a100:2).
    #[arg(long, help_heading = "Slurm")]
    pub gpus: Option<String>,
    /// Slurm: node features (--constraint).
    #[arg(long, help_heading = "Slurm")]
    pub constraint: Option<String>,
}

impl SlurmDefaultArgs {
    /// As the engine's settings.
    pub fn settings(&self) -> crate::crimpl::slurm::SlurmDefaults {
        crate::crimpl::slurm::SlurmDefaults {
            account: self.account.clone(),
            qos: self.qos.clone(),
            partition: self.partition.clone(),
            mem: self.mem.clone(),
            gpus: self.gpus.clone(),
            constraint: self.constraint.clone(),
        }
    }
}

/// `%crimpl server new aws NAME ...`
#[derive(Args, Debug)]
pub struct NewAwsArgs {
    /// The server's name (an existing crimpl volume of that name is reused).
    pub name: String,
    /// Private key file of the EC2 key pair.
    #[arg(long)]
    pub key_file: String,
    /// The key pair's name in EC2 (default: the key file's name).
    #[arg(long)]
    pub key_name: Option<String>,
    /// The region, saved with the server for all its calls (default: the
    /// kernel's, from AWS_REGION or the profile).
    #[arg(long)]
    pub region: Option<String>,
    /// Subnet for the instances (the volume is made in its availability zone).
    #[arg(long)]
    pub subnet_id: String,
    /// Security group for the instances (must allow SSH).
    #[arg(long)]
    pub security_group_id: String,
    /// Volume size in GiB (1 to 16384).
    #[arg(long, default_value_t = 4, value_parser = numbers::volume_gib())]
    pub volume_size: i32,
    /// AMI for every instance (default: the newest Ubuntu 24.04 LTS from
    /// Canonical for each architecture, pinned until `server update-image`).
    #[arg(long)]
    pub image_id: Option<String>,
    /// The image's login user.
    #[arg(long, default_value = "ubuntu")]
    pub username: String,
    /// Reach instances by their public or private address.
    #[arg(long, value_enum, default_value = "public")]
    pub ssh_address: crate::crimpl::aws::SshAddress,
    /// SSH port of the instances (1 to 65535).
    #[arg(long, default_value_t = 22, value_parser = numbers::port())]
    pub ssh_port: u16,
    /// Where the volume is mounted: the server directory.
    #[arg(long, default_value = crate::crimpl::config::DEFAULT_DIRECTORY)]
    pub directory: String,
    /// Instances shut down after this many idle minutes (no job or `run` script,
    /// no terminal login; 1 to 10080); a kernel's open connection does not count.
    #[arg(long, default_value_t = 30, value_parser = numbers::idle_minutes())]
    pub idle_stop_minutes: u32,
    /// Hard limit: the server instance shuts down this many hours after each
    /// boot, whatever runs (1 to 8760).
    #[arg(long, default_value_t = crate::crimpl::aws::lifetime::DEFAULT_MAX_HOURS, value_parser = numbers::max_hours())]
    pub max_hours: u32,
    /// Hard limit: a job instance shuts down this many minutes after its
    /// --walltime (default 2 days) has passed (1 to 10080).
    #[arg(long, default_value_t = crate::crimpl::aws::lifetime::DEFAULT_MARGIN_MINUTES, value_parser = numbers::idle_minutes())]
    pub lifetime_margin_minutes: u32,
}

/// `%crimpl status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// An array: list every task with its status.
    #[arg(long)]
    pub tasks: bool,
}

/// `%crimpl resubmit`.
#[derive(Args, Debug, Clone)]
pub struct ResubmitArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// An array: run again only the tasks that did not complete.
    #[arg(long)]
    pub failed: bool,
}

/// `%crimpl unwatch`.
#[derive(Args, Debug, Clone)]
pub struct UnwatchArgs {
    /// The job (default: this kernel's latest job).
    #[arg(conflicts_with = "all")]
    pub job: Option<String>,
    #[command(flatten)]
    pub server: ServerArg,
    /// Stop watching every job.
    #[arg(long)]
    pub all: bool,
}

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
}

/// `%%crimpl submit`.
#[derive(Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// The job's name (default: from the date and time).
    #[arg(long)]
    pub job: Option<String>,
    /// Files to send with the script.
    #[arg(long, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Wait for the job here, streaming status and log lines.
    #[arg(long)]
    pub wait: bool,
    /// Processors for the job, 1 to 65536 (Slurm: CPUs for one run of the script, on one node).
    #[arg(long, value_parser = numbers::nprocs())]
    pub nprocs: Option<u32>,
    /// Show what would be sent and run, and send nothing.
    #[arg(long)]
    pub trial_run: bool,
    /// A sweep: one task per id, e.g. 1-100, 0-99:3 or 1,5,9. Each task runs in
    /// its own directory (task-0007/) with CRIMPL_TASK_ID and CRIMPL_TASK_COUNT set.
    #[arg(
        long,
        value_name = "SPEC",
        conflicts_with = "params",
        help_heading = "Sweeps"
    )]
    pub array: Option<String>,
    /// A sweep over a parameter file: one task per row of a CSV (with a header)
    /// or JSON-lines file; its columns become environment variables.
    #[arg(long, value_name = "FILE", help_heading = "Sweeps")]
    pub params: Option<PathBuf>,
    /// A sweep: at most N tasks at once, 1 to 100000 (default: the host's CPUs; Slurm: no limit).
    #[arg(long, value_name = "N", value_parser = numbers::max_parallel(), help_heading = "Sweeps")]
    pub max_parallel: Option<u32>,
    /// Start only after these jobs of the server end: JOB[,JOB...][:ok|:any]
    /// (ok, the default: only if they all completed; otherwise this job ends canceled).
    #[arg(long, value_name = "JOBS")]
    pub after: Option<String>,
    /// Slurm: the time limit (default: the partition's). AWS: the job instance
    /// shuts down at this time plus the server's --lifetime-margin-minutes.
    #[arg(long, help_heading = "Slurm")]
    pub walltime: Option<String>,
    /// Slurm: tasks, for MPI-style jobs (--ntasks).
    #[arg(long, help_heading = "Slurm", value_parser = numbers::nprocs())]
    pub ntasks: Option<u32>,
    /// Slurm: nodes (--nodes).
    #[arg(long, help_heading = "Slurm", value_parser = numbers::nprocs())]
    pub nodes: Option<u32>,
    #[command(flatten)]
    pub slurm: SlurmDefaultArgs,
    /// Slurm: when to send mail (default END,FAIL).
    #[arg(long, help_heading = "Slurm")]
    pub mail_type: Option<String>,
    /// AWS: the job instance's type (default: the smallest with --nprocs vCPUs).
    #[arg(long, help_heading = "AWS")]
    pub instance_type: Option<String>,
    /// AWS: keep the job's instance running when the script ends.
    #[arg(long, help_heading = "AWS")]
    pub keep_instance: bool,
    /// AWS: launch the job's instance from this image instead of the server's pinned one.
    #[arg(long, help_heading = "AWS")]
    pub image_id: Option<String>,
    /// AWS, a sweep: spread its tasks over K job instances of the same type, 1 to 64
    /// (the first holds the volume; the others end with the sweep).
    #[arg(long, value_name = "K", value_parser = numbers::instances(), help_heading = "AWS")]
    pub instances: Option<u32>,
    /// Slurm: any other sbatch option, one per --sbatch (repeatable: --sbatch=--hold --sbatch="--comment=two words").
    #[arg(
        long = "sbatch",
        value_name = "ARG",
        allow_hyphen_values = true,
        help_heading = "Slurm"
    )]
    pub sbatch: Vec<String>,
}

/// `%crimpl wait`.
#[derive(Args, Debug)]
pub struct WaitArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Stop waiting at this status (default: when the job ends).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::crimpl::JobStatus::WORDS))]
    pub until: Option<String>,
    /// Seconds between status checks (0.1 to 86400).
    #[arg(long, default_value_t = 1.0, value_parser = numbers::poll_seconds)]
    pub poll: f64,
}

/// `%crimpl log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Only the last N lines (1 to 10000000).
    #[arg(long, value_parser = numbers::tail_lines())]
    pub tail: Option<usize>,
    /// Keep printing new lines until the job ends (interrupt to stop watching).
    #[arg(long)]
    pub follow: bool,
    /// Slurm: show Slurm's own output file of the job (its messages: time limit, memory, ...).
    #[arg(long, conflicts_with = "follow")]
    pub slurm: bool,
}

/// `%crimpl fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The job's name (default: this kernel's latest job).
    pub job: Option<String>,
    /// Paths inside the job directory (default: its output files).
    pub paths: Vec<String>,
    /// Directory to fetch into (default: the notebook's directory).
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// Replace existing files that differ.
    #[arg(long)]
    pub overwrite: bool,
    /// Take hidden files and directories too (`.git/...`; left out by default unless named).
    #[arg(long)]
    pub hidden: bool,
    /// An array's outputs in one folder, not one per task (when no two tasks wrote the same path).
    #[arg(long)]
    pub merge: bool,
    #[command(flatten)]
    pub server: ServerArg,
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
