//! A sweep's picture: one bar per task over time, coloured by status, so
//! stragglers, failures and the parallelism reached show at a glance.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::crimpl::{JobRecord, JobStatus};

/// The drawing's width, and the most height its task rows take.
const WIDTH: f64 = 640.0;
const ROWS_HEIGHT: f64 = 360.0;

/// The timeline of array `job`'s tasks that started, as an SVG bundle, or
/// `None` when none has (times have a second's resolution; a task still
/// running ends at `now`).
pub fn timeline(job: &str, record: &JobRecord, now: DateTime<Utc>) -> Option<Map<String, Value>> {
    let bars: Vec<(f64, f64, &JobStatus)> = record
        .tasks
        .iter()
        .filter_map(|task| {
            let start = parse(task.started.as_deref()?)?;
            let end = task.ended.as_deref().and_then(parse).unwrap_or(now);
            Some((start, end.max(start), &task.status))
        })
        .map(|(start, end, status)| (seconds(start), seconds(end), status))
        .collect();
    let first = bars.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
    let last = bars.iter().map(|b| b.1).fold(f64::NEG_INFINITY, f64::max);
    if bars.is_empty() {
        return None;
    }
    let span = (last - first).max(1.0);
    let row = (ROWS_HEIGHT / bars.len() as f64).clamp(1.0, 12.0);
    let height = row * bars.len() as f64 + 20.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    for (i, (start, end, status)) in bars.iter().enumerate() {
        let x = (start - first) / span * (WIDTH - 2.0);
        // A task of less than a second still shows.
        let width = ((end - start) / span * (WIDTH - 2.0)).max(2.0);
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
            i as f64 * row,
            (row - 0.5).max(0.5),
            colour(status)
        ));
    }
    let caption = format!(
        "{job}: {} tasks over {}, at most {} at once (by the second)",
        bars.len(),
        duration(span),
        most_at_once(&bars)
    );
    svg.push_str(&format!(
        "<text x=\"0\" y=\"{:.1}\">{}</text></svg>",
        height - 5.0,
        html_escape::encode_text(&caption)
    ));
    let mut data = Map::new();
    data.insert("image/svg+xml".into(), svg.into());
    data.insert("text/plain".into(), format!("[timeline: {caption}]").into());
    Some(data)
}

fn parse(time: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(time.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn seconds(time: DateTime<Utc>) -> f64 {
    time.timestamp() as f64
}

fn colour(status: &JobStatus) -> &'static str {
    match status {
        JobStatus::Complete => "#2e7d32",
        JobStatus::Failed(_) | JobStatus::Lost => "#c62828",
        JobStatus::Canceled => "#9e9e9e",
        _ => "#1565c0",
    }
}

/// The most bars overlapping at one moment. Times have a second's
/// resolution, so a task occupies at least the second it started in (tasks
/// that ran within one second count as running together).
fn most_at_once(bars: &[(f64, f64, &JobStatus)]) -> usize {
    let mut events: Vec<(f64, i32)> = bars
        .iter()
        .flat_map(|(start, end, _)| [(*start, 1), (end.max(start + 1.0), -1)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    most.max(1) as usize
}

fn duration(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{:.1} h", seconds as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, status: JobStatus, start: &str, end: Option<&str>) -> JobRecord {
        let mut record = JobRecord::new(name, status);
        record.started = Some(start.into());
        record.ended = end.map(str::to_string);
        record
    }

    #[test]
    fn bars_are_drawn_per_task_with_the_parallelism_reached() {
        let mut array = JobRecord::new("sweep", JobStatus::Failed(None));
        array.tasks = vec![
            task(
                "task-1",
                JobStatus::Complete,
                "2026-12-07T10:00:00Z",
                Some("2026-12-07T10:00:10Z"),
            ),
            task(
                "task-2",
                JobStatus::Failed(Some(1)),
                "2026-12-07T10:00:05Z",
                Some("2026-12-07T10:00:08Z"),
            ),
            task(
                "task-3",
                JobStatus::Complete,
                "2026-12-07T10:00:10Z",
                Some("2026-12-07T10:00:20Z"),
            ),
            JobRecord::new("task-4", JobStatus::Pending(None)),
        ];
        let now = parse("2026-12-07T10:01:00Z").unwrap();
        let data = timeline("sweep", &array, now).unwrap();
        let svg = data["image/svg+xml"].as_str().unwrap();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("#c62828"), "the failed task is red");
        assert_eq!(
            data["text/plain"],
            "[timeline: sweep: 3 tasks over 20 s, at most 2 at once (by the second)]"
        );
    }

    #[test]
    fn no_started_task_draws_nothing() {
        let mut array = JobRecord::new("sweep", JobStatus::Pending(None));
        array.tasks = vec![JobRecord::new("task-1", JobStatus::Pending(None))];
        assert!(timeline("sweep", &array, Utc::now()).is_none());
    }
}
