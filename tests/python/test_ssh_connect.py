"""Setting up SSH connections as real networks need: a bounded set-up
against a host that never speaks SSH, and targets reached only through jump
hosts (ProxyJump, chains, --jump, ProxyCommand), against real sshds whose
own logs prove every hop."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import uuid

import pytest

from harness.sshd import TEST_USER, Sshd, keygen
from kernel_helpers import Kernel, kernel_env

DIRECTORY = "crimpl-connect-tests"
system = pytest.mark.system  # a test user, sshd as root


@pytest.fixture
def mute_host(tmp_path):
    """A listener that accepts TCP connections and never says a word, and an
    ssh config naming it with a short ConnectTimeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    seen = threading.Event()

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            seen.set()

    threading.Thread(target=accept, daemon=True).start()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    port = listener.getsockname()[1]
    (home / ".ssh" / "config").write_text(
        f"Host mute\n  HostName 127.0.0.1\n  Port {port}\n  User nobody\n  ConnectTimeout 3\n"
    )
    yield home, accepted, seen
    listener.close()
    for conn in accepted:
        conn.close()


def still_open(conn: socket.socket) -> bool:
    """Whether the peer has not closed `conn` (what it sent, its SSH greeting, is read and dropped)."""
    conn.setblocking(False)
    try:
        while conn.recv(4096):
            pass
        return False
    except BlockingIOError:
        return True
    finally:
        conn.setblocking(True)


def test_a_host_that_never_speaks_ssh_fails_at_the_timeout_and_the_kernel_answers_meanwhile(
    mute_host, workdir, config_dir
):
    home, accepted, seen = mute_host
    kernel = Kernel(workdir, kernel_env(config_dir, home=home))
    try:
        msg_id = kernel.kc.execute("%crimpl server new ssh mute --host mute --directory ~/x")
        assert seen.wait(30), "the kernel never connected"
        # The kernel is in the handshake: control requests are answered meanwhile.
        kernel.kc.control_channel.send(kernel.kc.session.msg("kernel_info_request", {}))
        assert kernel.kc.get_control_msg(timeout=10)["msg_type"] == "kernel_info_reply"
        assert still_open(accepted[0]), "the handshake ended before kernel_info was answered"
        result = kernel.collect(msg_id, timeout=60)
        assert not result.ok
        assert "did not start SSH within 3 s" in result.error and "ConnectTimeout" in result.error, result.error
        assert not any(still_open(conn) for conn in accepted), f"the kernel left a connection open ({len(accepted)})"
        # The next cell runs at once.
        assert kernel.execute("%crimpl server list").ok
    finally:
        kernel.shutdown()


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """Two jump sshds (logging every forwarded channel) and a target sshd;
    a HOME whose ssh config reaches the target through them."""
    base = tmp_path_factory.mktemp("jumps")
    servers = {}
    try:
        for name in ("jump1", "jump2", "target"):
            level = "DEBUG1" if name.startswith("jump") else "VERBOSE"
            servers[name] = Sshd(base / name, log_level=level)
        home = base / "home"
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(parents=True)
        public = keygen(ssh_dir / "id_ed25519")
        servers["target"].authorize(public)  # one test user for all three
        known = "".join(server.known_hosts_line() for server in servers.values())
        (ssh_dir / "known_hosts").write_text(known)

        def host(name: str, extra: str = "") -> str:
            return (
                f"Host {name}\n  HostName 127.0.0.1\n  Port {servers[name].port}\n  User {TEST_USER}\n"
                f"  IdentityFile ~/.ssh/id_ed25519\n{extra}"
            )

        # OpenSSH's own client, for the ProxyCommand: absolute paths, no HOME needed.
        proxy_config = base / "proxy_ssh_config"
        proxy_config.write_text(
            f"Host jump1\n  HostName 127.0.0.1\n  Port {servers['jump1'].port}\n  User {TEST_USER}\n"
            f"  IdentityFile {ssh_dir / 'id_ed25519'}\n  IdentitiesOnly yes\n  BatchMode yes\n"
            f"  UserKnownHostsFile {ssh_dir / 'known_hosts'}\n"
        )
        (ssh_dir / "config").write_text(
            host("target", "  ProxyJump jump1\n")
            + "Host chained\n  HostName 127.0.0.1\n"
            f"  Port {servers['target'].port}\n  User {TEST_USER}\n  ProxyJump jump1,{TEST_USER}@127.0.0.1:{servers['jump2'].port}\n"
            + "Host proxied\n  HostName 127.0.0.1\n"
            f"  Port {servers['target'].port}\n  User {TEST_USER}\n"
            f"  ProxyCommand ssh -F {proxy_config} -W %h:%p jump1\n"
            + host("jump1")
            + host("jump2")
            + "Host plain\n  HostName 127.0.0.1\n"
            f"  Port {servers['target'].port}\n  User {TEST_USER}\n"
        )
        servers["home"] = home
        yield servers
    finally:
        for name, server in servers.items():
            if isinstance(server, Sshd):
                server.stop()
        if "target" in servers:
            servers["target"].cleanup_user(DIRECTORY)


def forwarded(server: Sshd, port: int) -> int:
    """How many channels this jump sshd forwarded to 127.0.0.1:port."""
    return len(re.findall(rf"server_request_direct_tcpip: originator .* target 127\.0\.0\.1 port {port}\b", server.log.read_text()))


@pytest.fixture
def kernel(hosts, workdir, config_dir):
    k = Kernel(workdir, kernel_env(config_dir, home=hosts["home"]))
    k.directory = f"~/{DIRECTORY}/{uuid.uuid4().hex[:8]}"
    yield k
    k.shutdown()


def run_on(kernel: Kernel, name: str, host: str, extra: str = "") -> str:
    made = kernel.execute(f"%crimpl server new ssh {name} --host {host} --directory {kernel.directory} {extra}")
    assert made.ok, made.error
    ran = kernel.execute(f"%%crimpl run --server {name}\necho \"hello from $(id -un)\"\n")
    assert ran.ok, ran.error
    return ran.text


@system
def test_proxy_jump_reaches_the_target_through_the_jump_host(hosts, kernel):
    target_port = hosts["target"].port
    before = forwarded(hosts["jump1"], target_port)
    assert f"hello from {TEST_USER}" in run_on(kernel, "far", "target")
    assert forwarded(hosts["jump1"], target_port) == before + 1
    assert "Accepted publickey" in hosts["target"].log.read_text()


@system
def test_a_chain_of_two_jump_hosts(hosts, kernel):
    target_port, jump2_port = hosts["target"].port, hosts["jump2"].port
    before = (forwarded(hosts["jump1"], jump2_port), forwarded(hosts["jump2"], target_port))
    assert f"hello from {TEST_USER}" in run_on(kernel, "farther", "chained")
    after = (forwarded(hosts["jump1"], jump2_port), forwarded(hosts["jump2"], target_port))
    assert after == (before[0] + 1, before[1] + 1)


@system
def test_jump_option_is_saved_with_the_server(hosts, kernel, config_dir):
    target_port = hosts["target"].port
    before = forwarded(hosts["jump2"], target_port)
    assert f"hello from {TEST_USER}" in run_on(kernel, "opt", "plain", "--jump jump2")
    assert forwarded(hosts["jump2"], target_port) == before + 1
    saved = json.loads((config_dir / "servers.json").read_text())["servers"]["opt"]
    assert saved["jump"] == "jump2"
    # A restarted kernel reads it back and still goes through the jump host.
    kernel.restart()
    assert kernel.execute("%%crimpl run --server opt\ntrue\n").ok
    assert forwarded(hosts["jump2"], target_port) == before + 2


@system
def test_proxy_command_carries_the_connection(hosts, kernel):
    target_port = hosts["target"].port
    before = forwarded(hosts["jump1"], target_port)
    assert f"hello from {TEST_USER}" in run_on(kernel, "piped", "proxied")
    assert forwarded(hosts["jump1"], target_port) == before + 1


@system
def test_server_check_has_a_step_per_jump_host(hosts, kernel):
    from test_server_check import SSH_STEPS, check_table

    assert kernel.execute(f"%crimpl server new ssh checked --host chained --directory {kernel.directory}").ok
    checked = kernel.execute("%crimpl server check checked")
    assert checked.ok, checked.error
    table = check_table(checked)
    jumps = ["jump host 1: jump1", f"jump host 2: {TEST_USER}@127.0.0.1:{hosts['jump2'].port}"]
    assert list(table)[:8] == ["way in", "configuration", *jumps, *SSH_STEPS[:4]]
    assert set(row["status"] for row in table.values()) == {"ok"}, table
    assert "through jump host jump1" in table["configuration"]["found"]
    assert "opened a channel to 127.0.0.1" in table["TCP connect"]["found"]


@system
def test_every_hop_key_is_checked(hosts, kernel):
    known = hosts["home"] / ".ssh" / "known_hosts"
    original = known.read_text()
    known.write_text("".join(line for line in original.splitlines(True) if f"]:{hosts['jump1'].port} " not in line))
    try:
        refused = kernel.execute(f"%crimpl server new ssh unsure --host target --directory {kernel.directory}")
        assert not refused.ok
        assert "jump host jump1" in refused.error and "is not known" in refused.error, refused.error
        checked = kernel.execute("%crimpl server check unsure")
        from test_server_check import check_table

        row = check_table(checked)["jump host 1: jump1"]
        assert row["status"] == "failed" and "server trust unsure SHA256:" in row["next"], row
    finally:
        known.write_text(original)


@pytest.fixture(scope="module")
def pam_sshd(tmp_path_factory):
    """An sshd that takes no keys: the test user logs in with a password
    through PAM (keyboard-interactive). The password is made for this run."""
    server = Sshd(tmp_path_factory.mktemp("pam"), password_login=True)
    password = f"pw-{uuid.uuid4().hex}"
    subprocess.run(["chpasswd"], input=f"{TEST_USER}:{password}\n", text=True, check=True)
    try:
        yield server, password
    finally:
        subprocess.run(["usermod", "--password", "*", TEST_USER], check=True)
        server.stop()
        server.cleanup_user(DIRECTORY)


@system
def test_a_password_is_asked_in_the_notebook_once_per_connection(pam_sshd, workdir, config_dir, tmp_path):
    sshd, password = pam_sshd
    log = tmp_path / "kernel.log"
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home), log=log)
    try:
        msg_id = kernel.kc.execute(
            f"%crimpl server new ssh pam --host {sshd.host_alias} --directory ~/{DIRECTORY}/pam", allow_stdin=True
        )
        request = kernel.kc.get_stdin_msg(timeout=30)
        assert request["msg_type"] == "input_request"
        assert request["content"]["password"] is True
        assert "password" in request["content"]["prompt"].lower(), request["content"]
        kernel.kc.input(password)
        made = kernel.collect(msg_id)
        assert made.ok, made.error
        assert "Accepted keyboard-interactive/pam" in sshd.log.read_text()
        # The open connection serves the next commands: nothing is asked again.
        ran = kernel.execute("%%crimpl run --server pam\necho \"in as $(id -un)\"\n", timeout=30)
        assert ran.ok and f"in as {TEST_USER}" in ran.text, ran.error
    finally:
        kernel.shutdown()
    # The answer is nowhere on disk: not in the kernel's log, registry or working directory.
    for path in [log, *config_dir.rglob("*"), *workdir.rglob("*"), *sshd.home.rglob("*")]:
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path


@system
def test_a_password_login_without_stdin_says_to_use_a_key(pam_sshd, workdir, config_dir):
    sshd, _ = pam_sshd
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    try:
        msg_id = kernel.kc.execute(
            f"%crimpl server new ssh pam --host {sshd.host_alias} --directory ~/{DIRECTORY}/pam", allow_stdin=False
        )
        result = kernel.collect(msg_id)
        assert not result.ok
        assert "does not accept input" in result.error and "ssh-agent" in result.error, result.error
        assert kernel.alive()
    finally:
        kernel.shutdown()


@system
def test_an_encrypted_key_has_its_passphrase_asked(hosts, workdir, config_dir, tmp_path):
    target = hosts["target"]
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    passphrase = f"words {uuid.uuid4().hex}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(home / ".ssh" / "id_ed25519")], check=True
    )
    (home / ".ssh" / "known_hosts").write_text(target.known_hosts_line())
    target.authorize((home / ".ssh" / "id_ed25519.pub").read_text().strip())
    kernel = Kernel(workdir, kernel_env(config_dir, home=home))
    try:
        msg_id = kernel.kc.execute(
            f"%crimpl server new ssh locked --host {TEST_USER}@127.0.0.1:{target.port} --directory ~/{DIRECTORY}/k",
            allow_stdin=True,
        )
        request = kernel.kc.get_stdin_msg(timeout=30)
        assert request["content"]["password"] is True
        assert "Passphrase for" in request["content"]["prompt"] and "id_ed25519" in request["content"]["prompt"]
        kernel.kc.input(passphrase)
        made = kernel.collect(msg_id)
        assert made.ok, made.error
    finally:
        kernel.shutdown()
        target.authorize((hosts["home"] / ".ssh" / "id_ed25519.pub").read_text().strip())


@system
def test_a_host_with_two_key_types_is_checked_against_the_one_recorded(tmp_path, workdir, config_dir):
    """The host has an ed25519 and an ecdsa key; known_hosts holds one of
    them (hashed): the connection negotiates that type, and no key is called changed."""
    base = tmp_path / "two-keys"
    base.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(base / "host_ecdsa")], check=True)
    sshd = Sshd(base, extra_config=f"HostKey {base / 'host_ecdsa'}\n")
    ecdsa_pub = (base / "host_ecdsa.pub").read_text()
    try:
        for recorded in (sshd.host_key_pub, ecdsa_pub):
            sshd.known_hosts.write_text(sshd.known_hosts_line(recorded))
            subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(sshd.known_hosts)], check=True)
            assert sshd.known_hosts.read_text().startswith("|1|")
            kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
            try:
                made = kernel.execute(
                    f"%crimpl server new ssh two --host {sshd.host_alias} --directory ~/{DIRECTORY}/two --replace"
                )
                assert made.ok, f"{recorded.split()[0]}: {made.error}"
            finally:
                kernel.shutdown()
    finally:
        sshd.stop()
        sshd.cleanup_user(DIRECTORY)
