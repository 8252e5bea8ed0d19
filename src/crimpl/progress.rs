//! How long engine operations report what they are doing.

/// Receives one line of progress at a time (e.g. "waiting for instance
/// i-0abc to run"); the magics turn it into display updates.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);
