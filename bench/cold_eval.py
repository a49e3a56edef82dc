"""One cold `eval.py --json` process for the benchmarks: an empty LM cache of its own, so nothing is replayed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cold_eval(flags: list[str], env: dict | None = None) -> tuple[dict, list[dict]]:
    """eval.py's JSON report and its per-example rows (`--out`); the benchmark exits if eval.py fails."""
    with tempfile.TemporaryDirectory(prefix="cold-eval-") as tmp:
        cmd = [sys.executable, "eval.py", "--json", "--out", f"{tmp}/rows.json", *flags]
        print("$", shlex.join(cmd[1:]), file=sys.stderr, flush=True)
        done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, **(env or {}), "DSPY_CACHEDIR": f"{tmp}/cache"})
        if done.returncode != 0:
            sys.exit(f"eval.py failed with status {done.returncode}: {shlex.join(cmd[1:])}")
        return json.loads(done.stdout.strip().splitlines()[-1]), json.loads(Path(f"{tmp}/rows.json").read_text())
