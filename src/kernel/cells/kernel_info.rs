//! The `kernel_info_reply`: who this kernel is and what language it speaks.

use std::process::Command;
use std::sync::OnceLock;

use jupyter_protocol::{
    CodeMirrorMode, HelpLink, JupyterMessageContent, KernelInfoReply, LanguageInfo, ReplyStatus,
};
use serde_json::json;

use crate::kernel::protocol::replies;

use crate::kernel::protocol::session::PROTOCOL_VERSION;

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

/// The `kernel_info_reply`: `jupyter-protocol`'s typed reply, plus the JEP 92
/// `supported_features` list the crate has no field for.
pub fn reply() -> JupyterMessageContent {
    let typed = KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: PROTOCOL_VERSION.to_string(),
        implementation: "crimpl-kernel".to_string(),
        implementation_version: env!("CARGO_PKG_VERSION").to_string(),
        language_info: LanguageInfo {
            name: "rust".to_string(),
            version: rustc_version().to_string(),
            mimetype: Some("text/rust".to_string()),
            file_extension: Some(".rs".to_string()),
            pygments_lexer: Some("rust".to_string()),
            codemirror_mode: Some(CodeMirrorMode::Simple("rust".to_string())),
            nbconvert_exporter: None,
        },
        banner: concat!(
            "crimpl-kernel ",
            env!("CARGO_PKG_VERSION"),
            ": Rust cells (evcxr) and %crimpl magics for remote compute jobs. Try %crimpl help."
        )
        .to_string(),
        help_links: vec![
            link("crimpl magics", "https://github.com/kecnry/crimpl"),
            link("evcxr", "https://github.com/evcxr/evcxr"),
        ],
        debugger: false,
        error: None,
    };
    let mut content = serde_json::to_value(typed).unwrap_or_default();
    // Optional protocol features this kernel implements: none of them yet.
    content["supported_features"] = json!([]);
    replies::untyped("kernel_info_reply", content)
}

fn link(text: &str, url: &str) -> HelpLink {
    HelpLink {
        text: text.to_string(),
        url: url.to_string(),
    }
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
