//! The `crimpl-kernel` command: run the kernel, or install its kernelspec.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use crimpl_kernel::kernel::{self, kernelspec};
use crimpl_kernel::magics::Magics;

#[derive(Parser)]
#[command(
    version,
    about = "A Jupyter kernel for Rust cells and %crimpl remote compute jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kernel (Jupyter starts it this way, with a connection file).
    Kernel {
        /// The connection file written by Jupyter.
        #[arg(long, short = 'f')]
        connection_file: PathBuf,
    },
    /// Install the kernelspec so that Jupyter lists the `crimpl` kernel.
    Install(Where),
    /// Remove the installed kernelspec.
    Uninstall(Where),
}

#[derive(Args)]
#[group(multiple = false)]
struct Where {
    /// Install for the current user (the default).
    #[arg(long)]
    user: bool,
    /// Install into the Python environment of `python3` on PATH (sys.prefix).
    #[arg(long)]
    sys_prefix: bool,
    /// Install under PREFIX/share/jupyter.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<PathBuf>,
}

impl Where {
    fn destination(&self) -> kernelspec::Destination {
        match (&self.prefix, self.sys_prefix) {
            (Some(prefix), _) => kernelspec::Destination::Prefix(prefix.clone()),
            (None, true) => kernelspec::Destination::SysPrefix,
            (None, false) => kernelspec::Destination::User,
        }
    }
}

fn main() -> anyhow::Result<()> {
    // evcxr re-executes this binary to run user code: this must come first.
    evcxr::runtime_hook();
    // Started by `ssh` as its SSH_ASKPASS (see transport::askpass): ask the kernel.
    if let Some(socket) =
        std::env::var_os(crimpl_kernel::crimpl::transport::askpass::SOCKET_VARIABLE)
    {
        let prompt = std::env::args().nth(1).unwrap_or_default();
        std::process::exit(crimpl_kernel::crimpl::transport::askpass::helper(
            std::path::Path::new(&socket),
            &prompt,
        ));
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Kernel { connection_file } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(kernel::run(&connection_file, Magics::from_environment()?))?;
            // Background job watchers must not hold the process open.
            runtime.shutdown_background();
        }
        Command::Install(place) => {
            let executable = std::env::current_exe()?;
            let dir = kernelspec::install(&place.destination(), &executable)?;
            println!("Installed the crimpl kernelspec in {}", dir.display());
        }
        Command::Uninstall(place) => match kernelspec::uninstall(&place.destination())? {
            Some(dir) => println!("Removed {}", dir.display()),
            None => println!("No crimpl kernelspec was installed there"),
        },
    }
    Ok(())
}
