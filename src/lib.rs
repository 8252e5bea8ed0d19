//! crimpl-kernel: a Jupyter kernel that runs remote compute jobs from notebook cells.
//!
//! Three layers, each knowing only the one below it:
//! - [`kernel`]: the Jupyter messaging protocol over ZeroMQ, and Rust cells through evcxr;
//! - [`magics`]: the `%crimpl` language, turning cells into engine calls and results into displays;
//! - [`crimpl`]: the engine: servers, jobs, transports; usable from plain Rust.
//!
//! Beneath them all, [`private_files`]: the files they keep on this machine, readable by
//! the user alone.

#![warn(missing_docs)]

pub mod crimpl;
pub mod kernel;
pub mod magics;
pub mod private_files;
