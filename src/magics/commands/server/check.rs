//! `%crimpl server check [NAME]`: the engine's check steps as one table
//! that fills in as they run.

use std::time::Duration;

use crate::crimpl::check::{self, Outcome, Step};
use crate::magics::args::ServerArg;
use crate::magics::offload::blocking;
use crate::magics::state::State;
use crate::magics::{MagicError, MagicResult, Output, View, render};

/// Check server `name` (default: the one a command without `--server` uses).
pub async fn run(state: &State, name: Option<String>, out: &Output) -> MagicResult {
    let name = state.server_name(&ServerArg { server: name })?;
    let config = state.server_config(&name)?;
    let caption = format!("Check of server {name} ({})", config.kind());
    let display_id = format!("crimpl-check-{}", uuid::Uuid::new_v4());
    out.display(&view(&caption, &[], true), Some(&display_id));
    let (shown, id, title, checked) = (
        out.clone(),
        display_id.clone(),
        caption.clone(),
        name.clone(),
    );
    let steps = blocking(move || {
        let on_step = |steps: &[Step]| shown.update_display(&view(&title, steps, true), &id);
        Ok(check::check(&checked, &config, &on_step))
    })
    .await?;
    out.update_display(&view(&caption, &steps, false), &display_id);
    let failed: Vec<&Step> = steps
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .collect();
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(MagicError::Crimpl(anyhow::anyhow!(
            "server {name}: {} of {} steps failed; the first is {:?}: {}. Next: {}",
            failed.len(),
            steps.len(),
            first.name,
            first.detail,
            first.next.as_deref().unwrap_or("see the table")
        ))),
    }
}

/// The table of `steps` (with a last row saying the check goes on, while `running`).
fn view(caption: &str, steps: &[Step], running: bool) -> View {
    let mut rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| {
            vec![
                step.name.clone(),
                step.outcome.word().to_string(),
                took(step),
                step.detail.clone(),
                step.next.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if running {
        rows.push(vec![
            "…".into(),
            "checking".into(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    render::table(
        caption,
        &["step", "status", "time", "found", "next step"],
        &rows,
    )
}

fn took(step: &Step) -> String {
    if step.outcome == Outcome::Skipped {
        return String::new();
    }
    format_duration(step.took)
}

fn format_duration(took: Duration) -> String {
    if took < Duration::from_secs(1) {
        format!("{} ms", took.as_millis())
    } else {
        format!("{:.1} s", took.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_each_step_and_what_to_do() {
        let steps = vec![
            Step {
                name: "TCP connect".into(),
                outcome: Outcome::Failed,
                detail: "127.0.0.1:1: Connection refused".into(),
                took: Duration::from_millis(3),
                next: Some("start sshd".into()),
            },
            Step {
                name: "host key".into(),
                outcome: Outcome::Skipped,
                detail: "not tried".into(),
                took: Duration::ZERO,
                next: None,
            },
        ];
        let view = view("Check of server x (ssh)", &steps, false);
        assert!(
            view.text.contains("TCP connect  failed   3 ms"),
            "{}",
            view.text
        );
        assert!(view.text.contains("start sshd"));
        assert!(
            view.html
                .contains("<td style=\"text-align:left\">host key</td>")
        );
        assert!(!view.text.contains("checking"));
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5 s");
    }
}
