"""The first ten minutes, from an empty configuration, on this machine only:
failed commands save nothing, the built-in `local` server stays a real
server, and typos get suggestions."""
from __future__ import annotations

import json

import pytest

from kernel_helpers import Kernel, kernel_env


@pytest.fixture
def fresh(tmp_path, workdir, config_dir):
    """A kernel with an empty registry and a HOME of its own (no ~/.ssh at all)."""
    home = tmp_path / "home"
    home.mkdir()
    kernel = Kernel(workdir, kernel_env(config_dir, home=home))
    kernel.home = home
    yield kernel
    kernel.shutdown()


def saved_servers(config_dir) -> dict:
    path = config_dir / "servers.json"
    return json.loads(path.read_text())["servers"] if path.exists() else {}


def test_a_failed_server_new_saves_nothing(fresh, config_dir, tmp_path):
    refused = fresh.execute("%crimpl server new ssh x --host=-oProxyCommand=touch")
    assert not refused.ok and "is not a host" in refused.error
    typo = fresh.execute("%crimpl server new ssh x --host nosuchhost.invalid")
    assert not typo.ok and "cannot resolve nosuchhost.invalid" in typo.error and "nothing was saved" in typo.error
    bad_name = fresh.execute("%crimpl server new local 'a b'")
    assert not bad_name.ok
    assert saved_servers(config_dir) == {}
    # An ~/.ssh/config alias whose jump host does not resolve is refused before saving...
    ssh_dir = fresh.home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text("Host far\n  HostName 10.9.9.9\n  ProxyJump gate.invalid\n")
    jumped = fresh.execute("%crimpl server new ssh far --host far")
    assert not jumped.ok and "cannot resolve gate.invalid" in jumped.error
    assert saved_servers(config_dir) == {}
    # ...and a failed --replace leaves the server it would have replaced as it was.
    made = fresh.execute(f"%crimpl server new local keep --directory {tmp_path / 'jobs'}")
    assert made.ok, made.error
    before = saved_servers(config_dir)
    replaced = fresh.execute("%crimpl server new ssh keep --host far --replace")
    assert not replaced.ok and "cannot resolve gate.invalid" in replaced.error
    assert saved_servers(config_dir) == before
    assert before["keep"]["kind"] == "local"


def test_the_builtin_local_server_is_listed_and_chosen_by_name(fresh, tmp_path):
    listed = fresh.execute("%crimpl server list")
    assert listed.ok
    local_row = next(line for line in listed.text.splitlines() if " local " in f" {line} ")
    assert local_row.startswith("*"), listed.text
    assert fresh.execute(f"%crimpl server new local one --directory {tmp_path / 'one'}").ok
    listed = fresh.execute("%crimpl server list").text
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in listed.splitlines()[2:]}
    assert set(rows) == {"local", "one"}, listed
    assert rows["one"].startswith("*")  # the only server made is the one used without --server
    used = fresh.execute("%crimpl server use local")
    assert used.ok, used.error
    ran = fresh.execute("%%crimpl run\necho \"in $PWD\"\n")
    assert ran.ok and f"in {fresh.home}/crimpl" in ran.text, ran.text
    assert fresh.execute(f"%crimpl server new local two --directory {tmp_path / 'two'}").ok
    removed = fresh.execute("%crimpl server remove local")
    assert not removed.ok and "built in" in removed.error


def test_several_servers_are_named_local_included(fresh, tmp_path, workdir, config_dir):
    for name in ("one", "two"):
        assert fresh.execute(f"%crimpl server new local {name} --directory {tmp_path / name}").ok
    other = Kernel(workdir, kernel_env(config_dir, home=fresh.home))
    try:
        jobs = other.execute("%crimpl jobs")
        assert not jobs.ok
        assert "several servers exist (local, one, two)" in jobs.error
        assert "%crimpl server use NAME" in jobs.error
        assert "none while several exist" in other.execute("%crimpl server list").text
    finally:
        other.shutdown()
    help_text = fresh.execute("%crimpl help").text
    assert "else the only server you made, else `local`" in " ".join(help_text.split())


@pytest.mark.parametrize(
    ("line", "suggestion"),
    [
        ("%crimpl sever list", "'server'"),
        ("%crimpl server lst", "'list'"),
        ("%crimpl jobs --sever x", "'--server'"),
    ],
)
def test_typos_get_suggestions(fresh, line, suggestion):
    result = fresh.execute(line)
    assert not result.ok
    assert "similar" in result.error and suggestion in result.error, result.error


def test_unknown_servers_and_jobs_suggest_the_closest_names(fresh, tmp_path):
    assert fresh.execute(f"%crimpl server new local cluster --directory {tmp_path / 'c'}").ok
    wrong = fresh.execute("%crimpl server use clustr")
    assert not wrong.ok and "did you mean `cluster`" in wrong.error, wrong.error
    assert fresh.execute("%%crimpl submit --job summary --wait\ntrue\n").ok
    status = fresh.execute("%crimpl status sumary")
    assert not status.ok and "did you mean `summary`" in status.error, status.error
    log = fresh.execute("%crimpl log summry")
    assert not log.ok and "did you mean `summary`" in log.error, log.error


def test_server_check_of_this_machine(fresh, tmp_path):
    checked = fresh.execute("%crimpl server check")
    assert checked.ok, checked.error
    final = [m for m in checked.outputs if m["msg_type"] == "update_display_data"][-1]["content"]["data"]["text/plain"]
    assert final.startswith("Check of server local (local)")
    rows = {line.split()[0]: line for line in final.splitlines()[2:]}
    assert set(rows) == {"shell", "tools", "server"}, final
    assert all(" ok " in row for row in rows.values()), final
    assert "does not exist yet" in rows["server"]
    assert not (fresh.home / "crimpl").exists()  # a check creates nothing
