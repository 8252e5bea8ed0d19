//! The Jupyter side: wire format, sockets, and the requests a kernel serves.
//! It knows nothing of crimpl; cells starting with `%crimpl` go to
//! [`crate::magics`], other cells to Rust through evcxr.
//!
//! Two folders: `protocol/` (Jupyter's messages, sockets and request
//! loops, which reach cells only through its `ShellHandler` and `Interrupt`
//! traits) and `cells/` (the handler: a cell routed to the magics or to
//! Rust, outputs, displays, history; `cells/rust/`: evcxr). [`run`] joins
//! them.

mod cells;
#[cfg(test)]
mod fuzz;
pub mod kernelspec;
mod protocol;

pub use protocol::{session, wire};

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use jupyter_protocol::ConnectionInfo;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::magics::Magics;
use cells::Cells;
use cells::execute::Executor;
use cells::history::History;
use cells::interrupt::Interrupter;
use cells::kernel_info;
use cells::rust::rust_cells::RustCells;
use protocol::control::{self, Control};
use protocol::curve::Curve;
use protocol::lifecycle::{self, Lifecycle};
use protocol::log;
use protocol::session::Session;
use protocol::shell::Shell;
use protocol::sockets;
use protocol::stdin::StdinChannel;

/// Run a kernel for the connection file at `connection_file` until it is shut down.
pub async fn run(connection_file: &Path, magics: Magics) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(connection_file)
        .with_context(|| format!("cannot read connection file {}", connection_file.display()))?;
    let connection: ConnectionInfo = serde_json::from_str(&text)
        .with_context(|| format!("malformed connection file {}", connection_file.display()))?;
    let session = Session::new(wire::Signer::new(
        &connection.key,
        &connection.signature_scheme,
    )?);
    let curve = Curve::from_connection_file(&text)
        .with_context(|| format!("connection file {}", connection_file.display()))?;
    let sockets = sockets::bind(&connection, curve, &session)?;
    let publisher = sockets.publisher.clone();
    publisher.status("starting", None);
    kernel_info::start_rustc_probe();

    let rust = RustCells::new();
    let interrupter = Interrupter::new(rust.clone());
    let magics = Arc::new(magics);
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    tokio::spawn(control::serve(
        sockets.control,
        publisher.clone(),
        Control {
            interrupter: Arc::new(interrupter.clone()),
            kernel_info: kernel_info::reply,
        },
        shutdown_tx,
    ));
    let history = match History::default_file() {
        Some(file) => History::open(&file),
        None => History::default(),
    };
    let executor = Executor::new(
        publisher.clone(),
        rust.clone(),
        magics.clone(),
        interrupter.clone(),
        StdinChannel::new(sockets.stdin),
        history,
    );
    let (lifecycle, shell_shutdown) = Lifecycle::new(Arc::new(interrupter.clone()));
    tokio::spawn(
        Shell::new(
            sockets.shell,
            publisher.clone(),
            Cells::new(executor, magics.clone(), rust),
            lifecycle,
        )
        .serve(),
    );

    // In signal interrupt mode, Jupyter sends SIGINT: interrupt the cell, keep running.
    let mut sigint = signal(SignalKind::interrupt())?;
    let sigint_interrupter = interrupter.clone();
    tokio::spawn(async move {
        while sigint.recv().await.is_some() {
            sigint_interrupter.interrupt();
        }
    });
    // A shutdown request on control or (as ipykernel allows) on shell.
    let request = tokio::select! {
        request = shutdown_rx => request,
        request = shell_shutdown => request,
    }
    .unwrap_or(lifecycle::ShutdownRequested { restart: false });
    log::log(&format!("shutting down (restart: {})", request.restart));
    magics.stop_watching("the kernel shut down");
    for note in magics.shutdown_notes().await {
        log::log(&note);
    }
    // Give iopub a moment to deliver the final idle status.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    Ok(())
}
