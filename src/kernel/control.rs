//! The control channel, served on its own task so that interrupt and
//! shutdown work while a cell runs.

use serde_json::json;
use tokio::sync::oneshot;

use super::interrupt::Interrupter;
use super::iopub::Publisher;
use super::kernel_info;
use super::lifecycle::shutdown_reply;
use super::panics;
use super::shell::error_reply;
use super::sockets::{RouterChannel, log};
use super::usage;
use super::wire::Incoming;

/// How the kernel was asked to stop.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownRequested {
    /// Whether the frontend will start a new kernel.
    pub restart: bool,
}

/// Serve control requests until a shutdown request arrives (then report it on `shutdown`).
pub async fn serve(
    mut channel: RouterChannel,
    publisher: Publisher,
    interrupter: Interrupter,
    shutdown: oneshot::Sender<ShutdownRequested>,
) {
    while let Some(request) = channel.incoming.recv().await {
        publisher.status("busy", Some(&request.header));
        let handled = panics::contain(handle(&channel, &publisher, &interrupter, &request)).await;
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
                let content = error_reply(panics::ENAME, &panics::user_message(msg_type, &panic));
                let reply_type = msg_type.replace("_request", "_reply");
                channel.replier.reply(&request, &reply_type, content).await;
            }
        }
    }
}

/// Handle one control request; a shutdown request is returned to stop serving.
async fn handle(
    channel: &RouterChannel,
    publisher: &Publisher,
    interrupter: &Interrupter,
    request: &Incoming,
) -> Option<ShutdownRequested> {
    panics::forced(request.msg_type());
    match request.msg_type() {
        "shutdown_request" => {
            let (restart, reply) = shutdown_reply(&request.content);
            channel
                .replier
                .reply(request, "shutdown_reply", reply.clone())
                .await;
            publisher.publish("shutdown_reply", reply, Some(&request.header));
            return Some(ShutdownRequested { restart });
        }
        "interrupt_request" => {
            interrupter.interrupt();
            channel
                .replier
                .reply(request, "interrupt_reply", json!({ "status": "ok" }))
                .await;
        }
        "kernel_info_request" => {
            channel
                .replier
                .reply(request, "kernel_info_reply", kernel_info::reply())
                .await;
        }
        "usage_request" => {
            channel
                .replier
                .reply(request, "usage_reply", usage::reply())
                .await;
        }
        other => {
            log(&format!("unsupported message type {other:?} on control"));
            if other.ends_with("_request") {
                let reply_type = other.replace("_request", "_reply");
                let content = error_reply(
                    "UnknownMessageType",
                    &format!("this kernel does not handle {other}"),
                );
                channel.replier.reply(request, &reply_type, content).await;
            }
        }
    }
    None
}
