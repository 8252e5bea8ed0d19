"""papermill parameters for the crimpl kernel: the translator's output, and
notebooks run by the `papermill` command whose Rust cells and magics see them."""
from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys

import nbformat
import pytest
from papermill.translators import papermill_translators

from crimpl_papermill import CrimplTranslator, ParameterError, RustTranslator
from kernel_helpers import Kernel, cell_text, kernel_env

RUST_TIMEOUT = 300  # the first Rust cell starts evcxr

# A string that is hard to carry: quotes of both kinds, a backslash, a dollar,
# a tab, a non-ASCII letter and an emoji.
AWKWARD = 'it\'s a "label" with \\ and $HOME\tπ 🦀'


def papermill(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the `papermill` command as a user would (in this Python environment)."""
    return subprocess.run(
        [sys.executable, "-m", "papermill", "--no-progress-bar", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


# --- the translator on its own ---------------------------------------------------


def test_papermill_finds_the_translators():
    assert papermill_translators.find_translator("crimpl", "rust") is CrimplTranslator
    # Other Rust kernels get Rust bindings without the magic lines.
    assert papermill_translators.find_translator("rust", "rust") is RustTranslator
    assert "%crimpl" not in RustTranslator.codify({"n": 5})


def test_each_parameter_becomes_a_typed_binding_and_an_env_line():
    code = CrimplTranslator.codify(
        {"n": 5, "x": 0.25, "flag": True, "label": AWKWARD, "inputs": ["a b.txt", "it's.txt"], "mixed": [1, 2.5]}
    )
    rust = [line for line in code.splitlines() if not line.startswith("%")]
    magics = [line for line in code.splitlines() if line.startswith("%")]
    assert rust == [
        "// Parameters",
        "let n: i64 = 5;",
        "let x: f64 = 0.25;",
        "let flag: bool = true;",
        'let label: String = "it\'s a \\"label\\" with \\\\ and $HOME\\tπ 🦀".to_string();',
        'let inputs: Vec<String> = vec!["a b.txt".to_string(), "it\'s.txt".to_string()];',
        "let mixed: Vec<f64> = vec![1.0, 2.5];",
    ]
    # All Rust lines come first: the kernel evaluates them at once, then runs the magics.
    assert code.splitlines()[len(rust):] == magics
    # Each magic line, once the kernel turned `$$` back into `$` and split it as a shell
    # line, is `env NAME=VALUE` with the value as given; a list's value is shell words.
    words = [shlex.split(line.replace("$$", "$"))[1:] for line in magics]
    assert words == [
        ["env", "n=5"],
        ["env", "x=0.25"],
        ["env", "flag=true"],
        ["env", f"label={AWKWARD}"],
        ["env", "inputs='a b.txt' 'it'\"'\"'s.txt'"],
        ["env", "mixed=1 2.5"],
    ]
    assert shlex.split(words[4][1].partition("=")[2]) == ["a b.txt", "it's.txt"]
    # No `$` is left single: the kernel expands nothing in these lines.
    assert all("$" not in line.replace("$$", "") for line in magics)


def test_edge_values():
    code = CrimplTranslator.codify(
        {
            "type": "keyword",
            "big": 1e100,
            "tiny": -5e-324,
            "nan": math.nan,
            "inf": -math.inf,
            "grid": [[1, 2], [], [3]],
            "limit": -(2**63),
            "control": "bell\x07 nul\x00 sep\u2028",
            "text": "two\nlines",
        }
    )
    lines = code.splitlines()
    assert "let r#type: String = \"keyword\".to_string();" in lines
    assert "let big: f64 = 1e+100;" in lines and "let tiny: f64 = -5e-324;" in lines
    assert "let nan: f64 = f64::NAN;" in lines and "let inf: f64 = f64::NEG_INFINITY;" in lines
    assert "let grid: Vec<Vec<i64>> = vec![vec![1, 2], vec![], vec![3]];" in lines
    assert "let limit: i64 = -9223372036854775808;" in lines
    assert 'let control: String = "bell\\u{7} nul\\0 sep\\u{2028}".to_string();' in lines
    assert 'let text: String = "two\\nlines".to_string();' in lines
    # A line break cannot go on a magic line: `$text` is unset, and the cell says why.
    assert "%crimpl env --unset text" in lines and "%crimpl env --unset control" in lines
    assert any(line.startswith("// $text is unset") for line in lines)
    assert "%crimpl env type=keyword" in lines


@pytest.mark.parametrize(
    "parameters, problem",
    [
        ({"a": None}, "'a' is None"),
        ({"cfg": {"k": 1}}, "'cfg' is a mapping"),
        ({"empty": []}, "empty list"),
        ({"mixed": [1, "a"]}, "mixes i64 and String"),
        ({"huge": 2**63}, "does not fit in a Rust i64"),
        ({"1x": 1}, "parameter name '1x'"),
        ({"self": 1}, "parameter name 'self'"),
    ],
)
def test_values_without_a_rust_form_are_refused_by_name(parameters, problem):
    with pytest.raises(ParameterError, match=problem.replace("(", r"\(")):
        CrimplTranslator.codify(parameters)


def test_papermill_help_lists_the_parameters(tmp_path):
    notebook = notebook_with_parameters("/nonexistent")
    path = tmp_path / "params.ipynb"
    nbformat.write(notebook, path)
    shown = papermill(str(path), "--help-notebook", env=kernel_env(tmp_path / "config"))
    assert shown.returncode == 0, shown.stderr
    assert "n: i64 (default 1)" in shown.stdout and "how many" in shown.stdout
    assert "inputs: Vec<String>" in shown.stdout
    assert "directory: Unknown type (default /nonexistent)" in shown.stdout


# --- notebooks run by papermill ----------------------------------------------------


def notebook_with_parameters(directory: str) -> nbformat.NotebookNode:
    """A notebook whose Rust cell and `%%crimpl run` cell print its parameters."""
    parameters = nbformat.v4.new_code_cell(
        "let n: i64 = 1; // how many\n"
        "let x: f64 = 0.0;\n"
        "let flag: bool = false;\n"
        'let label: String = "default".to_string();\n'
        'let inputs: Vec<String> = vec!["default.txt".to_string()];\n'
        f"%crimpl env n=1 x=0.0 flag=false label=default inputs=default.txt directory={directory}"
    )
    parameters.metadata["tags"] = ["parameters"]
    cells = [
        parameters,
        # Rust sees typed values.
        nbformat.v4.new_code_cell(
            "let doubled: i64 = n * 2;\n"
            "let half: f64 = x / 2.0;\n"
            "let negated: bool = !flag;\n"
            'println!("rust: n={n} doubled={doubled} x={x} half={half} flag={flag} negated={negated}");\n'
            'println!("rust: label={label} chars={}", label.chars().count());\n'
            'println!("rust: inputs={inputs:?}");\n'
            "for (i, name) in inputs.iter().enumerate() {\n"
            '    std::fs::write(name, format!("input {i}\\n")).unwrap();\n'
            "}\n"
            'std::fs::write("params.txt", format!("n={n} x={x} flag={flag} label={label}\\n")).unwrap();'
        ),
        # Magic lines see them as text.
        nbformat.v4.new_code_cell(
            '%crimpl server new local pm --directory "$directory" --replace\n'
            "%crimpl server use pm\n"
            "%crimpl env copy=$n/$x/$flag\n"
            "%crimpl env copy"
        ),
        # The script gets what the magic line sends: the list names the files.
        nbformat.v4.new_code_cell(
            "%%crimpl run --files params.txt $inputs\n"
            'printf "run: %s" "$(cat params.txt)"; echo\n'
            'for f in *.txt; do [ "$f" = params.txt ] || echo "run: $f holds $(cat "$f")"; done\n'
        ),
        nbformat.v4.new_code_cell("%crimpl env"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "crimpl", "display_name": "Rust + crimpl", "language": "rust"}
    notebook.metadata["language_info"] = {"name": "rust", "file_extension": ".rs"}
    return notebook


def test_papermill_parameters_reach_rust_cells_and_magics(tmp_path):
    server = tmp_path / "server dir"
    source = tmp_path / "params.ipynb"
    nbformat.write(notebook_with_parameters("/nonexistent"), source)
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out.ipynb"
    env = kernel_env(tmp_path / "config", home=tmp_path)
    ran = papermill(
        str(source), str(out), "--cwd", str(work),
        "-p", "n", "5", "-p", "x", "0.25", "-p", "flag", "True",
        "-p", "label", AWKWARD,
        "-y", json.dumps({"inputs": ["a b.txt", "it's.txt"]}),
        "-p", "directory", str(server),
        env=env,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    notebook = nbformat.read(out, as_version=4)
    injected, rust, magics, run, listed = [cell_text(cell) for cell in notebook.cells[1:]]
    assert notebook.cells[1].metadata.tags == ["injected-parameters"]
    assert "env: n=5" in injected and f"env: label={AWKWARD}" in injected
    assert "rust: n=5 doubled=10 x=0.25 half=0.125 flag=true negated=false" in rust
    assert f"rust: label={AWKWARD} chars={len(AWKWARD)}" in rust
    assert 'rust: inputs=["a b.txt", "it\'s.txt"]' in rust
    assert magics.splitlines()[-1] == "5/0.25/true"
    assert f"run: n=5 x=0.25 flag=true label={AWKWARD}" in run
    assert "run: a b.txt holds input 0" in run and "run: it's.txt holds input 1" in run
    assert sorted(p.name for p in server.iterdir() if not p.name.startswith("crimpl")) == [
        "a b.txt", "it's.txt", "params.txt",
    ]
    assert AWKWARD in listed and "inputs" in listed


def test_the_injected_cell_is_complete_and_runs_in_one_go(tmp_path, workdir, config_dir):
    """What papermill injects is one cell the kernel accepts as complete and runs
    as one Rust evaluation followed by the magics."""
    parameters = {"n": 7, "label": AWKWARD, "grid": [[1.5], []], "type": "kw", "text": "two\nlines"}
    code = CrimplTranslator.codify(parameters)
    kernel = Kernel(workdir, kernel_env(config_dir))
    try:
        kernel.kc.is_complete(code)
        reply = kernel.kc.get_shell_msg(timeout=10)
        assert reply["content"]["status"] == "complete"
        result = kernel.execute(code, timeout=RUST_TIMEOUT)
        assert result.ok, result.error
        shown = kernel.execute(
            'println!("{n} {:?} {grid:?} {type_} {}", label, text.lines().count(), type_ = r#type);',
            timeout=RUST_TIMEOUT,
        )
        assert shown.ok, shown.error
        assert shown.text.strip() == f"7 {json.dumps(AWKWARD, ensure_ascii=False)} [[1.5], []] kw 2"
        assert kernel.execute("%crimpl env label").text.strip() == AWKWARD
        unset = kernel.execute("%crimpl env text")
        assert not unset.ok and "text is not set" in unset.error
    finally:
        kernel.shutdown()
