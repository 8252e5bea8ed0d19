"""CurveZMQ, as jupyter_client 8.10 and ipykernel 7.4 use it: a manager with
`transport_encryption="required"` writes a key pair into the connection file,
and the kernel serves every channel encrypted with it; a client without the
server's key is not heard. (Without encryption, every other test file runs
as before.)"""
from __future__ import annotations

import json
import pathlib

import zmq
from jupyter_client.session import Session

from kernel_helpers import Kernel, kernel_env

RUST_TIMEOUT = 300  # the first Rust cell starts evcxr


def test_every_channel_is_served_encrypted(workdir, config_dir):
    kernel = Kernel(workdir, kernel_env(config_dir), transport_encryption="required")
    try:
        info = json.loads(pathlib.Path(kernel.km.connection_file).read_text())
        assert len(info["curve_publickey"]) == 40 and len(info["curve_secretkey"]) == 40
        assert kernel.kc.curve_publickey == info["curve_publickey"].encode()

        # shell and iopub
        kernel.kc.kernel_info()
        reply = kernel.kc.get_shell_msg(timeout=10)
        assert reply["msg_type"] == "kernel_info_reply"
        result = kernel.execute("%crimpl help")
        assert result.ok, result.error
        assert "%crimpl" in result.text

        # control
        msg = kernel.kc.session.msg("kernel_info_request")
        kernel.kc.control_channel.send(msg)
        reply = kernel.kc.control_channel.get_msg(timeout=10)
        assert reply["msg_type"] == "kernel_info_reply"
        assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]

        # heartbeat
        assert kernel.kc.hb_channel.is_beating()

        # stdin: a Rust cell reading a line
        msg_id = kernel.kc.execute(
            'let mut line = String::new();\nstd::io::stdin().read_line(&mut line).unwrap();\nprintln!("got [{}]", line.trim());',
            allow_stdin=True,
        )
        request = kernel.kc.get_stdin_msg(timeout=RUST_TIMEOUT)
        assert request["msg_type"] == "input_request"
        kernel.kc.input("over curve")
        result = kernel.collect(msg_id, timeout=RUST_TIMEOUT)
        assert result.ok, result.error
        assert "got [over curve]" in result.text
    finally:
        kernel.shutdown()


def test_a_client_without_the_server_key_gets_no_answer(workdir, config_dir):
    kernel = Kernel(workdir, kernel_env(config_dir), transport_encryption="required")
    context = zmq.Context()
    try:
        info = json.loads(pathlib.Path(kernel.km.connection_file).read_text())
        session = Session(key=info["key"].encode(), signature_scheme=info["signature_scheme"])
        shell = context.socket(zmq.DEALER)
        shell.linger = 0
        shell.connect(f"tcp://{info['ip']}:{info['shell_port']}")
        session.send(shell, "kernel_info_request", {})
        assert shell.poll(5000) == 0, "the kernel answered a client that lacks its key"
        # The kernel's own client, with the key, is still served.
        kernel.kc.kernel_info()
        assert kernel.kc.get_shell_msg(timeout=10)["msg_type"] == "kernel_info_reply"
    finally:
        context.destroy(linger=0)
        kernel.shutdown()
