//! The Jupyter side: wire format, sockets, and the requests a kernel serves.
//! It knows nothing of crimpl; cells starting with `%crimpl` go to
//! [`crate::magics`], other cells to Rust through evcxr.

pub mod control;
pub mod execute;
#[cfg(test)]
mod fuzz;
pub mod history;
pub mod interrupt;
pub mod iopub_backlog;
pub mod is_complete;
pub mod kernel_info;
pub mod kernelspec;
pub mod output;
pub mod panics;
pub mod rust_cells;
pub mod session;
pub mod shell;
pub mod sockets;
pub mod text;
pub mod wire;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use jupyter_protocol::ConnectionInfo;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::magics::Magics;
use execute::Executor;
use interrupt::Interrupter;
use rust_cells::RustCells;
use session::Session;
use shell::Shell;

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
    let sockets = sockets::bind(&connection, &session).await?;
    let publisher = sockets.publisher.clone();
    publisher.status("starting", None);

    let rust = RustCells::new();
    let interrupter = Interrupter::new(rust.clone());
    let magics = Arc::new(magics);
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    tokio::spawn(control::serve(
        sockets.control,
        publisher.clone(),
        interrupter.clone(),
        shutdown_tx,
    ));
    let executor = Executor::new(
        publisher.clone(),
        rust.clone(),
        magics.clone(),
        interrupter.clone(),
    );
    tokio::spawn(
        Shell::new(
            sockets.shell,
            publisher.clone(),
            executor,
            magics.clone(),
            rust,
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
    // The stdin channel is bound so that frontends can connect; this kernel
    // never asks for input, so anything arriving there is unsolicited.
    let mut stdin = sockets.stdin;
    tokio::spawn(async move {
        while let Some(message) = stdin.incoming.recv().await {
            sockets::log(&format!(
                "ignored unsolicited {} on stdin",
                message.msg_type()
            ));
        }
    });

    let request = shutdown_rx
        .await
        .unwrap_or(control::ShutdownRequested { restart: false });
    sockets::log(&format!("shutting down (restart: {})", request.restart));
    for note in magics.shutdown_notes().await {
        sockets::log(&note);
    }
    // Give iopub a moment to deliver the final idle status.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    Ok(())
}
