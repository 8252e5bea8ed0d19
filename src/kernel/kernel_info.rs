//! The `kernel_info_reply`: who this kernel is and what language it speaks.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::session::PROTOCOL_VERSION;

/// The version of the `rustc` that evcxr will use (`1.95.0`), asked once.
/// [`start_rustc_probe`] asks in the background at start, so that the first
/// `kernel_info_reply` does not wait for it.
fn rustc_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| parse_rustc_version(&String::from_utf8_lossy(&o.stdout)))
            // No rustc on PATH: Rust cells will say so; name the version this kernel was built for.
            .unwrap_or_else(|| env!("CARGO_PKG_RUST_VERSION").to_string())
    })
}

/// Ask `rustc --version` now, on a thread of its own.
pub fn start_rustc_probe() {
    std::thread::spawn(rustc_version);
}

/// `1.95.0` from `rustc 1.95.0 (59807616e 2026-04-14)`.
fn parse_rustc_version(output: &str) -> Option<String> {
    output.split_whitespace().nth(1).map(str::to_string)
}

/// The content of `kernel_info_reply`.
pub fn reply() -> Value {
    json!({
        "status": "ok",
        "protocol_version": PROTOCOL_VERSION,
        "implementation": "crimpl-kernel",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rust",
            "version": rustc_version(),
            "mimetype": "text/rust",
            "file_extension": ".rs",
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
        },
        "banner": concat!(
            "crimpl-kernel ", env!("CARGO_PKG_VERSION"),
            ": Rust cells (evcxr) and %crimpl magics for remote compute jobs. Try %crimpl help."
        ),
        "help_links": [
            { "text": "crimpl magics", "url": "https://github.com/kecnry/crimpl" },
            { "text": "evcxr", "url": "https://github.com/evcxr/evcxr" },
        ],
        "debugger": false,
        // JEP 92: optional protocol features this kernel implements (none of them yet).
        "supported_features": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustc_version_is_the_second_word() {
        assert_eq!(
            parse_rustc_version("rustc 1.95.0 (59807616e 2026-04-14)\n").as_deref(),
            Some("1.95.0")
        );
        assert_eq!(parse_rustc_version(""), None);
    }
}
