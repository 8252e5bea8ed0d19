//! The `kernel_info_reply`: who this kernel is and what language it speaks.

use serde_json::{Value, json};

use super::session::PROTOCOL_VERSION;

/// The content of `kernel_info_reply`.
pub fn reply() -> Value {
    json!({
        "status": "ok",
        "protocol_version": PROTOCOL_VERSION,
        "implementation": "crimpl-kernel",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rust",
            "version": env!("CARGO_PKG_RUST_VERSION"),
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
    })
}
