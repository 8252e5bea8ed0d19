//! The documented range of every numeric magic argument. A value outside
//! its range, NaN or infinity is a usage error from clap, never a panic or a
//! silent wrap-around further down.

use std::ops::RangeInclusive;

use clap::builder::{RangedI64ValueParser, RangedU64ValueParser};

/// `--poll`: seconds between status checks (a tenth of a second to a day).
pub const POLL_SECONDS: RangeInclusive<f64> = 0.1..=86_400.0;
/// `--tail`: lines of a log.
pub const TAIL_LINES: RangeInclusive<u64> = 1..=10_000_000;
/// `--nprocs`: processors for one job.
pub const NPROCS: RangeInclusive<i64> = 1..=65_536;
/// `--volume-size`: GiB of an EBS volume (gp3 allows 1 GiB to 16 TiB).
pub const VOLUME_GIB: RangeInclusive<i64> = 1..=16_384;
/// `--idle-stop-minutes`: a minute to a week.
pub const IDLE_MINUTES: RangeInclusive<i64> = 1..=10_080;
/// `--ssh-port`.
pub const PORT: RangeInclusive<i64> = 1..=65_535;
/// `--max-hours`: an hour to a year.
pub const MAX_HOURS: RangeInclusive<i64> = 1..=8_760;

/// `--max-parallel`: tasks of an array running at once.
pub const MAX_PARALLEL: RangeInclusive<i64> = 1..=100_000;

/// `--instances`: job instances of one sweep on AWS.
pub const INSTANCES: RangeInclusive<i64> = 1..=64;

/// Parser of `--instances`.
pub fn instances() -> RangedI64ValueParser<u32> {
    RangedI64ValueParser::new().range(INSTANCES)
}

/// Parser of `--max-parallel`.
pub fn max_parallel() -> RangedI64ValueParser<u32> {
    RangedI64ValueParser::new().range(MAX_PARALLEL)
}

/// Parser of `--nprocs`.
pub fn nprocs() -> RangedI64ValueParser<u32> {
    RangedI64ValueParser::new().range(NPROCS)
}

/// Parser of `--volume-size`.
pub fn volume_gib() -> RangedI64ValueParser<i32> {
    RangedI64ValueParser::new().range(VOLUME_GIB)
}

/// Parser of `--idle-stop-minutes`.
pub fn idle_minutes() -> RangedI64ValueParser<u32> {
    RangedI64ValueParser::new().range(IDLE_MINUTES)
}

/// Parser of `--max-hours`.
pub fn max_hours() -> RangedI64ValueParser<u32> {
    RangedI64ValueParser::new().range(MAX_HOURS)
}

/// Parser of `--ssh-port`.
pub fn port() -> RangedI64ValueParser<u16> {
    RangedI64ValueParser::new().range(PORT)
}

/// Parser of `--tail`.
pub fn tail_lines() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(TAIL_LINES)
}

/// Parse `--poll` seconds: a finite number within [`POLL_SECONDS`].
pub fn poll_seconds(text: &str) -> Result<f64, String> {
    let range = || format!("{} to {} seconds", POLL_SECONDS.start(), POLL_SECONDS.end());
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds ({})", range()))?;
    if !POLL_SECONDS.contains(&seconds) {
        return Err(format!("{text} is outside {}", range()));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_accepts_its_range_only() {
        assert_eq!(poll_seconds("2.5"), Ok(2.5));
        assert_eq!(poll_seconds("0.1"), Ok(0.1));
        for bad in ["1e20", "NaN", "inf", "-1", "0", "0.01", "x", ""] {
            assert!(poll_seconds(bad).is_err(), "{bad} was accepted");
        }
    }
}
