//! Contain a panic inside one request: the request gets an `error` reply
//! naming an internal error, the kernel's log gets a line, and the request
//! loop goes on to the next request.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use futures_util::FutureExt;

/// The `ename` of replies to requests whose handler panicked.
pub const ENAME: &str = "InternalError";

/// Run `handler`; a panic inside it becomes `Err(message)`.
pub async fn contain<T>(handler: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(handler)
        .catch_unwind()
        .await
        .map_err(|payload| describe(payload.as_ref()))
}

/// The environment variable naming a message type whose handler panics on
/// purpose: the test suite's way to prove that a panic never ends a request loop.
pub const FORCE_PANIC_VARIABLE: &str = "CRIMPL_KERNEL_TEST_PANIC_ON";

/// Panic if the test hook [`FORCE_PANIC_VARIABLE`] names `msg_type`.
pub fn forced(msg_type: &str) {
    static FORCED: OnceLock<Option<String>> = OnceLock::new();
    let forced = FORCED.get_or_init(|| std::env::var(FORCE_PANIC_VARIABLE).ok());
    if forced.as_deref() == Some(msg_type) {
        panic!("{FORCE_PANIC_VARIABLE} asked for a panic in {msg_type}");
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// What the user reads: which request failed, why, and that the kernel goes on.
pub fn user_message(msg_type: &str, panic: &str) -> String {
    format!(
        "internal error in the kernel while handling {msg_type}: {panic}\n\
         The kernel keeps running; please report this with the cell that caused it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_its_message() {
        let outcome: Result<(), String> = contain(async { panic!("boom {}", 7) }).await;
        assert_eq!(outcome, Err("boom 7".to_string()));
        assert_eq!(contain(async { 5 }).await, Ok(5));
    }
}
