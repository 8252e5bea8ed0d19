//! The kernel's own log: lines on its stderr, which Jupyter shows in the
//! server log. Every part of the kernel writes through it.

/// Log a line to the kernel's stderr (Jupyter shows it in the server log).
pub fn log(line: &str) {
    eprintln!("[crimpl-kernel] {line}");
}
