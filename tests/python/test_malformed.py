"""Hostile input on the wire: every malformed message is dropped or answered
with an error, and the kernel goes on answering."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import zmq


def connect_raw(kernel, channel: str) -> zmq.Socket:
    info = kernel.km.get_connection_info()
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(f"{info['transport']}://{info['ip']}:{info[channel + '_port']}")
    return socket


def signed(kernel, msg_type: str, content, key: bytes | None = None) -> list[bytes]:
    key = kernel.km.session.key if key is None else key
    header = json.dumps(
        {
            "msg_id": uuid.uuid4().hex,
            "username": "test",
            "session": "raw",
            "date": "2026-01-01T00:00:00Z",
            "msg_type": msg_type,
            "version": "5.3",
        }
    ).encode()
    parts = [header, b"{}", b"{}", content if isinstance(content, bytes) else json.dumps(content).encode()]
    signature = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest().encode()
    return [b"<IDS|MSG>", signature, *parts]


def reply_to(socket: zmq.Socket, timeout: float = 5):
    if not socket.poll(int(timeout * 1000)):
        return None
    frames = socket.recv_multipart()
    delimiter = frames.index(b"<IDS|MSG>")
    return json.loads(frames[delimiter + 2]), json.loads(frames[delimiter + 5])


def test_malformed_and_badly_signed_messages_are_survived(kernel):
    shell = connect_raw(kernel, "shell")
    control = connect_raw(kernel, "control")
    dropped = [
        [b"no delimiter at all"],
        [b"<IDS|MSG>", b"sig"],
        [b"<IDS|MSG>", b"deadbeef", b"{}", b"{}", b"{}", b"{}"],
        signed(kernel, "kernel_info_request", {}, key=b"wrong key"),
        signed(kernel, "kernel_info_request", b"{not json"),
        [b"<IDS|MSG>", b"", b"{}", b"{}", b"{}", b"{}"],
        [b"\xff\xfe" * 10, b"<IDS|MSG>", *signed(kernel, "kernel_info_request", {})[1:3]],
        [b"x" * (65 * 1024 * 1024)],
    ]
    for socket in (shell, control):
        for frames in dropped:
            socket.send_multipart(frames)
            assert reply_to(socket, timeout=0.5) is None, frames[:2]
    # A well-signed message of an unknown type, or with a bad content, gets an error reply.
    shell.send_multipart(signed(kernel, "frobnicate_request", {}))
    header, content = reply_to(shell)
    assert header["msg_type"] == "frobnicate_reply" and content["status"] == "error"
    shell.send_multipart(signed(kernel, "complete_request", {"code": 3}))
    header, content = reply_to(shell)
    assert header["msg_type"] == "complete_reply" and content["status"] == "error"
    shell.send_multipart(signed(kernel, "execute_request", {"silent": "yes"}))
    header, content = reply_to(shell)
    assert header["msg_type"] == "execute_reply" and content["status"] == "error"
    # The kernel still answers on every channel, and its heartbeat beats.
    shell.send_multipart(signed(kernel, "kernel_info_request", {}))
    header, content = reply_to(shell)
    assert content["implementation"] == "crimpl-kernel"
    control.send_multipart(signed(kernel, "kernel_info_request", {}))
    assert reply_to(control)[1]["status"] == "ok"
    assert kernel.alive()
    assert kernel.execute("%crimpl help").ok
    time.sleep(0.1)
    assert kernel.km.is_alive()
    shell.close()
    control.close()


def test_bad_magics_are_errors_in_the_cell_and_the_kernel_survives(kernel):
    for code, expected in [
        ("%crimpl frobnicate", "unrecognized subcommand"),
        ("%crimpl submit", "needs a script"),
        ("%crimpl jobs extra-arg", "unexpected argument"),
        ("%crimpl status --server nowhere", "no server named"),
        ("%crimpl wait --poll 0 x", "0.1 to 86400 seconds"),
        ("%crimpl wait --until done x", "possible values"),
        ('%crimpl status "unterminated', "unbalanced quotes"),
        ("%crimpl status $CRIMPL_TEST_UNSET_VARIABLE", "is not set"),
        ("%%crimpl jobs\nbody", "takes no cell body"),
        ("%crimpl server start", "is for AWS servers"),
        ("%crimpl job create --nprocs 8", "manage AWS job instances"),
        ("%crimpl server delete-volume local", "--yes"),
        ("%crimpl aws delete-all-volumes", "--yes"),
        ("%crimpl server new aws x --key-file k --subnet-id s --security-group-id g --ssh-address both",
         "possible values"),
    ]:
        result = kernel.execute(code)
        assert not result.ok, code
        assert expected in result.error, (code, result.error)
    assert kernel.execute("%crimpl help").ok


def test_every_command_answers_help(kernel):
    for command in ["server", "server new local", "run", "submit", "jobs", "status", "wait",
                    "log", "ls", "fetch", "kill", "resubmit", "server new aws", "server start",
                    "job create", "aws", "aws cost", "help submit"]:
        suffix = "" if command.startswith("help") else " --help"
        result = kernel.execute(f"%crimpl {command}{suffix}")
        assert result.ok, (command, result.error)
        assert "Usage: %crimpl" in result.text, command
