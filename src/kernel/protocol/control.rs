//! The control channel, served on its own task so that interrupt and
//! shutdown work while a cell runs.

use std::sync::Arc;

use jupyter_protocol::{InterruptReply, JupyterMessageContent};
use tokio::sync::oneshot;

use super::handler::Interrupt;
use super::iopub::Publisher;
use super::lifecycle::{ShutdownRequested, shutdown_reply};
use super::log::log;
use super::panics;
use super::replies;
use super::sockets::RouterChannel;
use super::usage;
use super::wire::Incoming;

/// What the control channel serves: interrupts through `interrupter`, and
/// `kernel_info` (the same reply as on shell).
pub struct Control {
    /// Stops the running cell.
    pub interrupter: Arc<dyn Interrupt>,
    /// The `kernel_info_reply`.
    pub kernel_info: fn() -> JupyterMessageContent,
}

/// Serve control requests until a shutdown request arrives (then report it on `shutdown`).
pub async fn serve(
    mut channel: RouterChannel,
    publisher: Publisher,
    control: Control,
    shutdown: oneshot::Sender<ShutdownRequested>,
) {
    while let Some(request) = channel.incoming.recv().await {
        publisher.status("busy", Some(&request.header));
        let handled = panics::contain(handle(&channel, &publisher, &control, &request)).await;
        publisher.status("idle", Some(&request.header));
        match handled {
            Ok(Some(requested)) => {
                let _ = shutdown.send(requested);
                return;
            }
            Ok(None) => {}
            Err(panic) => {
                let msg_type = request.msg_type();
                log(&format!(
                    "panic while handling {msg_type} on control: {panic}"
                ));
                let reply = replies::failed(
                    msg_type,
                    panics::ENAME,
                    &panics::user_message(msg_type, &panic),
                );
                channel.replier.reply(&request, &reply);
            }
        }
    }
}

/// Handle one control request; a shutdown request is returned to stop serving.
async fn handle(
    channel: &RouterChannel,
    publisher: &Publisher,
    control: &Control,
    request: &Incoming,
) -> Option<ShutdownRequested> {
    panics::forced(request.msg_type());
    match request.msg_type() {
        "shutdown_request" => {
            let (restart, reply) = shutdown_reply(&request.content);
            channel.replier.reply(request, &reply);
            publisher.publish(
                "shutdown_reply",
                replies::content_of(&reply),
                Some(&request.header),
            );
            return Some(ShutdownRequested { restart });
        }
        "interrupt_request" => {
            control.interrupter.interrupt();
            let reply = JupyterMessageContent::InterruptReply(InterruptReply::new());
            channel.replier.reply(request, &reply);
        }
        "kernel_info_request" => {
            channel.replier.reply(request, &(control.kernel_info)());
        }
        "usage_request" => {
            let reply = replies::untyped("usage_reply", usage::reply());
            channel.replier.reply(request, &reply);
        }
        other => {
            log(&format!("unsupported message type {other:?} on control"));
            if other.ends_with("_request") {
                let reply = replies::failed(
                    other,
                    "UnknownMessageType",
                    &format!("this kernel does not handle {other}"),
                );
                channel.replier.reply(request, &reply);
            }
        }
    }
    None
}
