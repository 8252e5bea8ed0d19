"""The suite's own safety (harness.session, harness.system): a run that leaves
something behind fails, and tests that change the system run only with the
opt-in. Each case runs a small pytest session of its own with the plugin."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from harness import processes

HERE = pathlib.Path(__file__).parent

LEAKY = '''
import pathlib, subprocess

from harness.ledger import LEDGER


class Service:
    def describe(self):
        return "the forgotten service"

    def stop(self):
        pathlib.Path({stopped!r}).write_text("stopped")


def test_leaves_a_service_running():
    LEDGER.started(Service())


def test_leaves_a_process_running():
    # A detached process (its parent exits at once), working in the run's temporary root.
    pid = subprocess.run(["sh", "-c", "sleep 300 > /dev/null 2>&1 & echo $!"], cwd=LEDGER.temp_root(),
                         capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path({pid_file!r}).write_text(pid)
'''

GATED = '''
import pytest

from harness import system, users


@pytest.mark.system
def test_changes_the_system():
    raise AssertionError("ran without the opt-in")


def test_the_harness_refuses_to_make_a_user():
    with pytest.raises(system.NotAllowed, match="CRIMPL_TEST_SYSTEM"):
        users.ensure_test_user()
'''


@pytest.fixture
def inner(pytester, monkeypatch):
    """Run a pytest session with the plugin, the harness importable."""
    monkeypatch.setenv("PYTHONPATH", str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(source: str, *args: str):
        pytester.makepyfile(test_inner=source)
        return pytester.runpytest_subprocess("-p", "harness.session", "-p", "no:cacheprovider", "-rs", *args)

    return run


def test_a_run_that_leaves_a_process_or_a_service_behind_fails(inner, tmp_path):
    stopped, pid_file = tmp_path / "stopped", tmp_path / "pid"
    result = inner(LEAKY.format(stopped=str(stopped), pid_file=str(pid_file)))
    result.assert_outcomes(passed=2, errors=1)
    report = result.stdout.str()
    assert "the test run left things behind" in report
    assert "the forgotten service was still running at the end" in report
    pid = int(pid_file.read_text())
    assert f"process {pid} " in report and "sleep 300" in report
    # ...and the check ended and stopped what it found.
    assert stopped.read_text() == "stopped"
    assert processes.read(pid) is None or not processes.read(pid).running


def test_a_clean_run_passes_and_removes_its_temporary_root(inner, tmp_path):
    result = inner(f"import pathlib\nfrom harness.ledger import LEDGER\n\ndef test_writes():\n"
                   f"    (LEDGER.temp_root() / 'file').write_text('x')\n"
                   f"    pathlib.Path({str(tmp_path / 'root')!r}).write_text(str(LEDGER.temp_root()))\n")
    result.assert_outcomes(passed=1)
    assert not pathlib.Path((tmp_path / "root").read_text()).exists()


def test_tests_that_change_the_system_need_the_opt_in(inner, monkeypatch):
    monkeypatch.setenv("CRIMPL_TEST_SYSTEM", "0")
    result = inner(GATED)
    result.assert_outcomes(passed=1, skipped=1)
    assert "CRIMPL_TEST_SYSTEM=0 is set" in result.stdout.str()


INTERRUPTED = '''
import pathlib, time

from harness.ledger import LEDGER


class Service:
    def describe(self):
        return "a service"

    def stop(self):
        pathlib.Path({stopped!r}).write_text("stopped")


def test_waits_for_a_signal():
    LEDGER.started(Service())
    pathlib.Path({root_file!r}).write_text(str(LEDGER.temp_root()))
    time.sleep(120)
'''


def test_a_run_ended_by_sigterm_still_tidies_up(pytester, tmp_path):
    stopped, root_file = tmp_path / "stopped", tmp_path / "root"
    pytester.makepyfile(test_inner=INTERRUPTED.format(stopped=str(stopped), root_file=str(root_file)))
    env = {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "harness.session", "-p", "no:cacheprovider",
                            "test_inner.py"], cwd=pytester.path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not root_file.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert root_file.exists(), run.communicate(timeout=60)[0] if run.poll() is not None else "no start"
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=60)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert stopped.read_text() == "stopped", output
    assert not pathlib.Path(root_file.read_text()).exists(), output
    assert "KeyboardInterrupt" in output or "Interrupted" in output, output
