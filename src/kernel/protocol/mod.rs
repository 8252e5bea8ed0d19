//! The Jupyter protocol: signed multipart messages (`wire.rs`, `session.rs`),
//! the sockets, all on libzmq (`sockets.rs`, `iopub.rs`; CurveZMQ in
//! `curve.rs`), the shell and
//! control loops (`shell.rs`, `control.rs`, `lifecycle.rs`), stdin's input
//! requests (`stdin.rs`) and the replies it builds itself. It reaches cells
//! only through [`handler::ShellHandler`] and [`handler::Interrupt`]: it
//! never names the magics or Rust.

pub mod control;
pub mod curve;
pub mod handler;
pub mod iopub;
mod iopub_backlog;
pub mod lifecycle;
pub mod log;
pub mod panics;
mod pipe;
pub mod replies;
pub mod session;
pub mod shell;
pub mod sockets;
pub mod stdin;
pub mod text;
pub mod usage;
pub mod wire;
