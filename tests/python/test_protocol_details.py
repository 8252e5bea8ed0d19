"""Protocol details frontends rely on (issue 15): iopub_welcome on the
subscribed topic, user_expressions, shutdown and interrupt on shell,
usage_request, shutdown_reply on iopub, supported_features, the rustc
version, history kept across kernels (private, without secrets)."""
from __future__ import annotations

import json
import stat
import subprocess

import zmq
from jupyter_client.session import Session

from kernel_helpers import Kernel, kernel_env

RUST_TIMEOUT = 300


def test_iopub_welcome_comes_on_the_subscribed_topic(kernel):
    info = kernel.km.get_connection_info()
    context = zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    try:
        socket.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
        socket.setsockopt(zmq.SUBSCRIBE, b"kernel.welcome-test")
        assert socket.poll(10_000), "no iopub_welcome for a specific topic"
        frames = socket.recv_multipart()
        assert frames[0] == b"kernel.welcome-test"
        session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
        _, message = session.feed_identities(frames)
        message = session.deserialize(message)
        assert message["msg_type"] == "iopub_welcome"
        assert message["content"]["subscription"] == "kernel.welcome-test"
    finally:
        socket.close(linger=0)


def test_user_expressions_are_evaluated_or_answered_with_an_error(kernel):
    msg_id = kernel.kc.execute(
        "let base = 20;",
        user_expressions={"next": "base + 1", "broken": "no_such_name"},
    )
    result = kernel.collect(msg_id, timeout=RUST_TIMEOUT)
    assert result.ok, result.error
    expressions = result.reply["user_expressions"]
    assert expressions["next"]["status"] == "ok"
    assert expressions["next"]["data"]["text/plain"] == "21"
    assert expressions["broken"]["status"] == "error"
    assert expressions["broken"]["ename"] and expressions["broken"]["traceback"]


def test_interrupt_and_usage_requests_on_shell_and_control(kernel):
    message = kernel.kc.session.msg("interrupt_request", {})
    kernel.kc.shell_channel.send(message)
    reply = kernel.kc.get_shell_msg(timeout=10)
    assert reply["msg_type"] == "interrupt_reply" and reply["content"]["status"] == "ok"
    for channel, get in ((kernel.kc.shell_channel, kernel.kc.get_shell_msg), (kernel.kc.control_channel, kernel.kc.get_control_msg)):
        channel.send(kernel.kc.session.msg("usage_request", {}))
        reply = get(timeout=10)
        assert reply["msg_type"] == "usage_reply"
        usage = reply["content"]
        assert usage["pid"] == kernel.km.provisioner.process.pid
        assert usage["kernel_memory"] > 0 and usage["cpu_count"] >= 1
        assert usage["host_virtual_memory"]["total"] > 0 and usage["hostname"]
    assert kernel.alive()


def test_shutdown_on_shell_is_replied_and_published(workdir, config_dir):
    kernel = Kernel(workdir, kernel_env(config_dir))
    try:
        message = kernel.kc.session.msg("shutdown_request", {"restart": False})
        kernel.kc.shell_channel.send(message)
        reply = kernel.kc.get_shell_msg(timeout=10)
        assert reply["msg_type"] == "shutdown_reply" and reply["content"]["restart"] is False
        published = None
        while published is None:
            msg = kernel.kc.get_iopub_msg(timeout=10)
            if msg["msg_type"] == "shutdown_reply":
                published = msg
        assert published["parent_header"]["msg_id"] == message["header"]["msg_id"]
        kernel.km.provisioner.process.wait(timeout=10)
        assert kernel.km.provisioner.process.returncode == 0
    finally:
        kernel.kc.stop_channels()
        kernel.km.cleanup_resources()


def test_shutdown_reply_on_control_is_published_on_iopub(workdir, config_dir):
    kernel = Kernel(workdir, kernel_env(config_dir))
    try:
        msg_id = kernel.kc.shutdown()
        assert kernel.kc.get_control_msg(timeout=10)["msg_type"] == "shutdown_reply"
        while True:
            msg = kernel.kc.get_iopub_msg(timeout=10)
            if msg["msg_type"] == "shutdown_reply":
                assert msg["parent_header"]["msg_id"] == msg_id
                break
        kernel.km.provisioner.process.wait(timeout=10)
    finally:
        kernel.kc.stop_channels()
        kernel.km.cleanup_resources()


def test_kernel_info_names_rustc_and_supported_features(kernel):
    kernel.kc.kernel_info()
    info = kernel.kc.get_shell_msg(timeout=10)["content"]
    installed = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    assert info["language_info"]["version"] == installed
    assert isinstance(info["supported_features"], list)


def test_history_is_kept_across_kernels(workdir, tmp_path):
    env = kernel_env(tmp_path / "config")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    first = Kernel(workdir, env)
    try:
        assert first.execute("%crimpl help").ok
    finally:
        first.shutdown()
    second = Kernel(workdir, env)
    try:
        assert second.execute("%crimpl server list").ok
        second.kc.history(hist_access_type="tail", n=10)
        history = second.kc.get_shell_msg(timeout=10)["content"]["history"]
        assert [entry[2] for entry in history] == ["%crimpl help", "%crimpl server list"]
        assert history[0][0] + 1 == history[1][0], history  # two sessions, in order
        second.kc.history(hist_access_type="range", session=-1, start=1, stop=None)
        previous = second.kc.get_shell_msg(timeout=10)["content"]["history"]
        assert [entry[2] for entry in previous] == ["%crimpl help"]
    finally:
        second.shutdown()
    lines = (tmp_path / "data" / "crimpl-kernel" / "history.jsonl").read_text().splitlines()
    assert any(json.loads(line).get("input") == "%crimpl help" for line in lines)


def test_the_history_file_is_private_and_holds_no_secret(workdir, tmp_path):
    env = kernel_env(tmp_path / "config")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    kernel = Kernel(workdir, env)
    try:
        assert kernel.execute("%crimpl env API_TOKEN=tok-s3cr3t-value n=4").ok
    finally:
        kernel.shutdown()
    history = tmp_path / "data" / "crimpl-kernel" / "history.jsonl"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
    text = history.read_text()
    assert "tok-s3cr3t-value" not in text
    assert "API_TOKEN=<hidden>" in text
