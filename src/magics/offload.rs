//! Calling the engine from a magic: its blocking work runs off the async
//! runtime, and its progress lines go into the cell.

use super::{MagicError, Output, StreamName};

/// Run blocking engine work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, MagicError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| MagicError::Crimpl(anyhow::anyhow!("engine task failed: {e}")))?
        .map_err(MagicError::Crimpl)
}

/// A progress callback that prints each line into the cell.
pub fn progress_to(out: &Output) -> impl Fn(&str) + Send + Sync + 'static {
    let out = out.clone();
    move |line: &str| out.stream(StreamName::Stdout, &format!("{line}\n"))
}
