"""`%crimpl env`: the variables `$NAME` in magic lines expands to, set, listed and
unset from the notebook over the kernel's own environment."""
from __future__ import annotations

from kernel_helpers import Kernel, kernel_env


def listing(kernel) -> dict[str, tuple[str, str]]:
    """`%crimpl env`'s table as {name: (value, from)}."""
    result = kernel.execute("%crimpl env")
    assert result.ok, result.error
    rows = {}
    lines = result.text.splitlines()
    header = lines[1]
    value_at, from_at = header.index("value"), header.index("from")
    for line in lines[2:]:
        rows[line[:value_at].strip()] = (line[value_at:from_at].strip(), line[from_at:].strip())
    return rows


def test_set_list_and_unset(kernel, tmp_path):
    target = tmp_path / "fetched here"
    result = kernel.execute(f"%crimpl env crimpl_n=5 'where={target}' empty=")
    assert result.ok, result.error
    assert "env: crimpl_n=5" in result.text and f"env: where={target}" in result.text
    assert kernel.execute("%crimpl env crimpl_n").text.strip() == "5"
    rows = listing(kernel)
    assert rows["crimpl_n"] == ("5", "notebook") and rows["where"] == (str(target), "notebook")
    assert rows["empty"] == ("", "notebook")
    assert rows["HOME"][1] == "kernel environment"
    # Both reach magic lines: a value with a space stays one word when quoted.
    used = kernel.execute("%crimpl env copy=$crimpl_n-${crimpl_n}0 \"spaced=$where\"")
    assert used.ok and "env: copy=5-50" in used.text and f"env: spaced={target}" in used.text
    unset = kernel.execute("%crimpl env --unset crimpl_n --unset HOME")
    assert unset.ok and "env: unset crimpl_n" in unset.text and "env: unset HOME" in unset.text
    # Unset is unset, even for a name the kernel's environment has.
    for name in ("crimpl_n", "HOME"):
        failed = kernel.execute("%crimpl jobs --server $" + name)
        assert not failed.ok and failed.reply["ename"] == "UsageError"
        assert f"${name} is not set" in failed.error and f"%crimpl env {name}=VALUE" in failed.error
        assert name not in listing(kernel)
    assert kernel.execute("%crimpl env ${HOME:-fallback}x=1").text.strip() == "env: fallbackx=1"


def test_an_unset_variable_is_still_an_error(kernel):
    result = kernel.execute("%crimpl jobs --server $CRIMPL_SURELY_UNSET")
    assert not result.ok and "$CRIMPL_SURELY_UNSET is not set" in result.error
    shown = kernel.execute("%crimpl env CRIMPL_SURELY_UNSET")
    assert not shown.ok and "CRIMPL_SURELY_UNSET is not set" in shown.error


def test_secret_looking_values_are_hidden_in_listings(workdir, config_dir):
    env = kernel_env(config_dir)
    env["CRIMPL_TEST_API_TOKEN"] = "from-the-kernel-environment"
    kernel = Kernel(workdir, env)
    try:
        result = kernel.execute("%crimpl env DB_PASSWORD=hunter2 region=eu-west-1")
        assert result.ok and "env: DB_PASSWORD=<hidden>" in result.text and "hunter2" not in result.text
        rows = listing(kernel)
        assert rows["DB_PASSWORD"] == ("<hidden>", "notebook")
        assert rows["CRIMPL_TEST_API_TOKEN"] == ("<hidden>", "kernel environment")
        assert rows["region"] == ("eu-west-1", "notebook")
        html = kernel.execute("%crimpl env").outputs[0]["content"]["data"]["text/html"]
        assert "hunter2" not in html and "from-the-kernel-environment" not in html
        # Asked for by name, a value is shown (as IPython's %env NAME does).
        assert kernel.execute("%crimpl env DB_PASSWORD").text.strip() == "hunter2"
    finally:
        kernel.shutdown()


def test_literal_dollars_and_bad_input(kernel):
    dollars = kernel.execute("%crimpl env 'price=$$5 each'")
    assert dollars.ok and "env: price=$5 each" in dollars.text
    assert kernel.execute("%crimpl env price").text.strip() == "$5 each"
    for line, problem in [
        ("%crimpl env 1x=2", "not a variable name"),
        ("%crimpl env a-b=2", "not a variable name"),
        ("%crimpl env --unset 'a b'", "not a variable name"),
        ("%crimpl env a=1 --unset b", "cannot be used with"),
    ]:
        result = kernel.execute(line)
        assert not result.ok and result.reply["ename"] == "UsageError", line
        assert problem in result.error, (line, result.error)
    assert kernel.alive()


def test_help_names_the_command(kernel):
    listed = kernel.execute("%crimpl help")
    assert listed.ok and "env" in listed.text and "Set, unset or list the variables" in listed.text
    help_text = kernel.execute("%crimpl env --help").text
    assert "--unset <NAME>" in help_text and "NAME=VALUE" in help_text and "$$" in help_text
