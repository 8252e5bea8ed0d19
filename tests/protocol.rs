//! The kernel binary driven over ZeroMQ from Rust: signed requests, replies,
//! iopub output, the heartbeat, and messages it must drop.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::Duration;

use bytes::Bytes;
use crimpl_kernel::kernel::session::Session;
use crimpl_kernel::kernel::wire::{self, Incoming, Signer};
use serde_json::{Value, json};
use zeromq::{DealerSocket, ReqSocket, Socket, SocketRecv, SocketSend, SubSocket, ZmqMessage};

const KEY: &str = "a0436f6c-1916-498b-8eb9-e81ab9368e84";

struct Kernel {
    child: Child,
    ports: [u16; 5],
    _dir: tempfile::TempDir,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_kernel() -> Kernel {
    let dir = tempfile::tempdir().unwrap();
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let connection = json!({
        "ip": "127.0.0.1", "transport": "tcp", "signature_scheme": "hmac-sha256", "key": KEY,
        "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2],
        "control_port": ports[3], "hb_port": ports[4], "kernel_name": "crimpl",
    });
    let file = dir.path().join("connection.json");
    std::fs::write(&file, connection.to_string()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_crimpl-kernel"))
        .args(["kernel", "--connection-file"])
        .arg(&file)
        .env("CRIMPL_CONFIG_DIR", dir.path().join("config"))
        // The history file goes to the test's directory, not the user's.
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    Kernel {
        child,
        ports,
        _dir: dir,
    }
}

fn url(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

fn session() -> Session {
    Session::new(Signer::new(KEY, "hmac-sha256").unwrap())
}

async fn send(socket: &mut DealerSocket, frames: Vec<Bytes>) {
    socket
        .send(ZmqMessage::try_from(frames).unwrap())
        .await
        .unwrap();
}

async fn request(socket: &mut DealerSocket, msg_type: &str, content: Value) -> Incoming {
    send(socket, session().frames(&[], msg_type, None, &content)).await;
    receive(socket).await.expect("a reply")
}

async fn receive(socket: &mut impl SocketRecv) -> Option<Incoming> {
    let message = tokio::time::timeout(Duration::from_secs(20), socket.recv())
        .await
        .ok()?
        .ok()?;
    let signer = Signer::new(KEY, "hmac-sha256").unwrap();
    Some(wire::decode(message.into_vec(), &signer).expect("the kernel signs what it sends"))
}

#[tokio::test]
async fn kernel_info_execute_and_iopub_over_zeromq() {
    let kernel = start_kernel();
    let mut shell = DealerSocket::new();
    shell.connect(&url(kernel.ports[0])).await.unwrap();
    let mut iopub = SubSocket::new();
    iopub.connect(&url(kernel.ports[1])).await.unwrap();
    iopub.subscribe("").await.unwrap();
    // JEP 65: a subscriber knows it is heard once its `iopub_welcome` arrives;
    // output published before that is not meant for it.
    let welcome = receive(&mut iopub).await.expect("an iopub_welcome");
    assert_eq!(welcome.msg_type(), "iopub_welcome");
    assert_eq!(welcome.content["subscription"], "");

    let info = request(&mut shell, "kernel_info_request", json!({})).await;
    assert_eq!(info.msg_type(), "kernel_info_reply");
    assert_eq!(info.content["language_info"]["name"], "rust");
    assert_eq!(info.content["protocol_version"], "5.3");

    let reply = request(
        &mut shell,
        "execute_request",
        json!({"code": "%crimpl help", "silent": false, "store_history": true}),
    )
    .await;
    assert_eq!(reply.content["status"], "ok");
    assert_eq!(reply.content["execution_count"], 1);
    let mut saw_usage = false;
    while let Some(message) = receive(&mut iopub).await {
        if message.msg_type() == "stream" {
            saw_usage |= message.content["text"]
                .as_str()
                .unwrap_or_default()
                .contains("Usage: %crimpl");
        }
        if message.msg_type() == "status"
            && message.content["execution_state"] == "idle"
            && saw_usage
        {
            break;
        }
    }
    assert!(saw_usage);
}

#[tokio::test]
async fn dropped_messages_leave_the_kernel_answering() {
    let kernel = start_kernel();
    let mut shell = DealerSocket::new();
    shell.connect(&url(kernel.ports[0])).await.unwrap();
    let forged = Session::new(Signer::new("not the key", "hmac-sha256").unwrap());
    send(
        &mut shell,
        forged.frames(&[], "kernel_info_request", None, &json!({})),
    )
    .await;
    send(&mut shell, vec![Bytes::from_static(b"<IDS|MSG>")]).await;
    send(&mut shell, vec![Bytes::from_static(b"garbage")]).await;
    let reply = request(&mut shell, "kernel_info_request", json!({})).await;
    // The first reply is to the good request: the others were dropped unanswered.
    assert_eq!(reply.msg_type(), "kernel_info_reply");
}

#[tokio::test]
async fn heartbeat_echoes_and_control_shuts_down() {
    let mut kernel = start_kernel();
    let mut heartbeat = ReqSocket::new();
    heartbeat.connect(&url(kernel.ports[4])).await.unwrap();
    heartbeat.send(ZmqMessage::from("ping")).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), heartbeat.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pong.get(0).unwrap().as_ref(), b"ping");

    let mut control = DealerSocket::new();
    control.connect(&url(kernel.ports[3])).await.unwrap();
    let reply = request(&mut control, "shutdown_request", json!({"restart": false})).await;
    assert_eq!(reply.msg_type(), "shutdown_reply");
    let status = tokio::task::spawn_blocking(move || {
        let status = kernel.child.wait().unwrap();
        (status, kernel)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success());
}
