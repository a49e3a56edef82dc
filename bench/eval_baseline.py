"""Benchmark: the uncompiled researcher_writer on the test split, cold, then again served from the LM cache.

    python bench/eval_baseline.py                 # 100 test examples, seed 0, embedded LM
    python bench/eval_baseline.py --limit 20

Each pass is a separate `eval.py --json` process; the first starts from an empty DSPy cache (a temporary
DSPY_CACHEDIR), the second reuses it. Prints both reports, the overhead share and the cache speed-up, and writes
them to bench/results/eval_baseline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project's packages (not installed into site-packages)

from metrics.summary import format_ci  # noqa: E402


def run_eval(args, cache_dir: str) -> tuple[dict, float]:
    cmd = [sys.executable, str(ROOT / "eval.py"), "--json", "--program", args.program, "--split", args.split,
           "--limit", str(args.limit), "--seed", str(args.seed), "--model", args.model]
    start = time.perf_counter()
    done = subprocess.run(cmd, env={**os.environ, "DSPY_CACHEDIR": cache_dir}, capture_output=True, text=True,
                          cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"eval.py failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--program", default="researcher_writer")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="local")
    p.add_argument("--keep-cache", default=None, help="copy the filled LM cache here afterwards (to reuse it)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="dspy-cache-") as cache:
        cold, cold_process_s = run_eval(args, cache)
        warm, warm_process_s = run_eval(args, cache)
        if args.keep_cache:
            shutil.copytree(cache, args.keep_cache, dirs_exist_ok=True)
    out = {
        "command": " ".join(["python", "bench/eval_baseline.py", *sys.argv[1:]]),
        "cold": cold, "warm": warm,
        "cold_process_s": round(cold_process_s, 1), "warm_process_s": round(warm_process_s, 1),
        "cache_speedup_eval_loop": round(cold["wall_s"] / max(warm["wall_s"], 1e-9), 1),
        "cache_speedup_process": round(cold_process_s / max(warm_process_s, 1e-9), 1),
    }
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "eval_baseline.json").write_text(json.dumps(out, indent=2))
    for name in ("cold", "warm"):
        r = out[name]
        metrics = ", ".join(f"{k} {format_ci(v)}" for k, v in r["metrics"].items())
        print(f"{name}: n={r['n']} {metrics}; LM calls {r['lm_calls']} ({r['cache_hits']} cached); tokens "
              f"{r['tokens']['prompt']}+{r['tokens']['completion']}; wall {r['wall_s']:.1f}s, LM {r['lm_s']:.1f}s, "
              f"overhead {r['overhead_share']:.2%}; {r['per_example']['wall_s']:.2f}s and "
              f"{r['per_example']['prompt_tokens']:.0f} prompt tokens per example; errors {r['errors']}")
    print(f"cache speed-up: eval loop {out['cache_speedup_eval_loop']}x, whole process "
          f"{out['cache_speedup_process']}x ({out['cold_process_s']}s -> {out['warm_process_s']}s)")


if __name__ == "__main__":
    main()
