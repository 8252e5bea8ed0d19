//! Rust cells: evcxr on its own thread, started on the first Rust cell
//! (`rust_cells.rs`), compile errors at the cell's own lines
//! (`rust_errors.rs`), plain stdin reads answered through Jupyter's
//! input requests (`stdin_reads.rs`), and whether a cell is complete Rust
//! (`is_complete.rs`).

pub mod is_complete;
mod output_pump;
pub mod rust_cells;
mod rust_errors;
mod stdin_reads;
