//! Interrupting the running cell, from `interrupt_request` or SIGINT.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::kernel::protocol::handler::Interrupt;

use super::rust::rust_cells::RustCells;

/// Knows what the running cell is and how to stop it: magics watch a
/// cancellation token; Rust code is stopped by evcxr's child being killed.
#[derive(Clone)]
pub struct Interrupter {
    current: Arc<Mutex<Option<CancellationToken>>>,
    rust: RustCells,
}

impl Interrupter {
    /// An interrupter for cells evaluated by `rust` and by the magics.
    pub fn new(rust: RustCells) -> Self {
        Self {
            current: Arc::default(),
            rust,
        }
    }

    /// A token for a cell that starts now; interrupting cancels it.
    pub fn begin_cell(&self) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut current) = self.current.lock() {
            *current = Some(token.clone());
        }
        token
    }

    /// The running cell has finished.
    pub fn end_cell(&self) {
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
    }

    /// Stop whatever the running cell is doing.
    pub fn interrupt(&self) {
        if let Some(token) = self.current.lock().ok().and_then(|c| c.clone()) {
            token.cancel();
            self.rust.interrupt();
        }
    }
}

impl Interrupt for Interrupter {
    fn interrupt(&self) {
        Interrupter::interrupt(self);
    }
}
