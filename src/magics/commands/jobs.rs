//! `%crimpl jobs`: every job on the server with its status.

use crate::magics::args::ServerArg;
use crate::magics::offload::blocking;
use crate::magics::state::State;
use crate::magics::{MagicResult, Output, render};

/// `%crimpl jobs`.
pub async fn list(state: &State, args: &ServerArg, out: &Output) -> MagicResult {
    let server = state.server(args)?;
    let reader = server.clone();
    let records = blocking(move || reader.jobs()).await?;
    state.remember_jobs(&server, records.iter().map(|r| r.name.clone()));
    let displays = state.job_displays();
    for record in &records {
        displays.seen(server.name(), record);
    }
    out.display(&render::jobs_checked(server.name(), &records), None);
    Ok(())
}
