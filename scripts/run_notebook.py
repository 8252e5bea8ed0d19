"""Execute a notebook headless with nbclient and save the executed copy.

usage: run_notebook.py NOTEBOOK OUTDIR [--timeout SECONDS]

Cells run with OUTDIR as their working directory, so files a notebook
writes or fetches land there. Any cell error fails the run (exit 1) and
names the cell.
"""
import argparse
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=pathlib.Path)
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(args.notebook, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=args.timeout,
        kernel_name="crimpl",
        resources={"metadata": {"path": str(args.outdir)}},
    )
    out = args.outdir / args.notebook.name
    start = time.monotonic()
    print(f"==> executing {args.notebook} ({len(notebook.cells)} cells)", flush=True)
    try:
        client.execute()
    except CellExecutionError as error:
        nbformat.write(notebook, out)
        print(f"error: a cell failed; the partly executed notebook is {out}\n{error}", file=sys.stderr)
        return 1
    nbformat.write(notebook, out)
    print(f"==> executed in {time.monotonic() - start:.1f} s: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
