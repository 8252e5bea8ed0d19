//! How long an instance may live: every instance shuts down at a hard limit
//! after each boot, whatever runs on it, so a failed boot or a forgotten job
//! still ends. The server instance lives at most the server's `max_hours`;
//! a job instance its job's walltime plus the server's margin.

use anyhow::bail;

/// The server instance's limit when none is given, in hours.
pub const DEFAULT_MAX_HOURS: u32 = 24;

/// A job instance's limit past its walltime when none is given, in minutes.
pub const DEFAULT_MARGIN_MINUTES: u32 = 60;

/// A job's walltime when none is given (Slurm's default in crimpl), in minutes.
pub const DEFAULT_WALLTIME_MINUTES: u32 = 2 * 24 * 60;

/// The minutes of a walltime written as Slurm does: `MM`, `MM:SS`,
/// `HH:MM:SS`, `D-HH`, `D-HH:MM` or `D-HH:MM:SS` (seconds round up).
pub fn walltime_minutes(text: &str) -> anyhow::Result<u32> {
    let bad = || {
        anyhow::anyhow!("walltime {text:?} is not MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")
    };
    let number = |part: &str| -> anyhow::Result<u64> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 6 {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (days, clock) = match text.split_once('-') {
        Some((days, clock)) => (number(days)?, clock),
        None => (0, text),
    };
    let parts = clock
        .split(':')
        .map(number)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let seconds = match (text.contains('-'), parts.as_slice()) {
        (false, [m]) => m * 60,
        (false, [m, s]) => m * 60 + s,
        (_, [h, m, s]) => h * 3600 + m * 60 + s,
        (true, [h]) => h * 3600,
        (true, [h, m]) => h * 3600 + m * 60,
        _ => return Err(bad()),
    } + days * 86_400;
    let minutes = seconds.div_ceil(60);
    if minutes == 0 || minutes > u64::from(u32::MAX) / 2 {
        bail!("walltime {text:?} must be between one second and a few thousand years");
    }
    Ok(minutes as u32)
}

/// A job instance's limit: its walltime (or the default) plus `margin` minutes.
pub fn job_minutes(walltime: Option<&str>, margin: u32) -> anyhow::Result<u32> {
    let walltime = match walltime {
        Some(text) => walltime_minutes(text)?,
        None => DEFAULT_WALLTIME_MINUTES,
    };
    Ok(walltime.saturating_add(margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walltimes_read_as_slurm_writes_them() {
        assert_eq!(walltime_minutes("30").unwrap(), 30);
        assert_eq!(walltime_minutes("30:01").unwrap(), 31);
        assert_eq!(walltime_minutes("02:00:00").unwrap(), 120);
        assert_eq!(walltime_minutes("1-00").unwrap(), 1440);
        assert_eq!(walltime_minutes("2-00:00:00").unwrap(), 2880);
        assert_eq!(walltime_minutes("1-01:30").unwrap(), 1530);
        for bad in ["", "1:2:3:4", "a", "-1", "1-", "0", "1-2:3:4:5", "1.5"] {
            assert!(walltime_minutes(bad).is_err(), "{bad}");
        }
        assert_eq!(job_minutes(None, 60).unwrap(), 2940);
        assert_eq!(job_minutes(Some("10"), 60).unwrap(), 70);
    }
}
