"""Benchmark: which agent needs the bigger model? researcher_writer, uncompiled, on the same questions, with
every agent on the 0.5B model, every agent on the 1.5B model, and only the writer on the 1.5B (--agent-model).

    python bench/agent_models.py                       # 30 dev questions (the default), seed 0
    python bench/agent_models.py --split test --limit 100

Each configuration is one `eval.py --json` process with an empty LM cache of its own, so its seconds per
question are cold (nothing replayed). Writes bench/results/agent_models-<split><n>.json; `bench/report.py`
prints it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from cold_eval import cold_eval

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "all on 0.5B": ["--model", "local"],
    "all on 1.5B": ["--model", "local-1.5b"],
    "researcher 0.5B, writer 1.5B": ["--model", "local", "--agent-model", "writer=local-1.5b"],
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", default="dev", choices=["dev", "test"])
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from metrics.summary import format_ci, paired_difference_ci

    results, f1 = {}, {}
    for name, flags in CONFIGS.items():
        report, rows = cold_eval(["--program", "researcher_writer", "--split", args.split, "--limit", str(args.limit),
                                  "--seed", str(args.seed), *flags])
        f1[name] = {row["id"]: row["scores"]["f1"] for row in rows}
        results[name] = {"flags": flags, **report}
    base = next(iter(CONFIGS))  # every agent on the default model
    for name in results:  # the paired F1 difference to it, over the same questions
        ids = sorted(f1[base])
        results[name]["f1_vs_all_0.5b"] = paired_difference_ci([f1[base][i] for i in ids], [f1[name][i] for i in ids],
                                                               seed=args.seed)

    out = {"command": shlex.join(["python", "bench/agent_models.py", *sys.argv[1:]]), "results": results}
    path = ROOT / "bench" / "results" / f"agent_models-{args.split}{args.limit}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    for name, r in results.items():
        m = r["metrics"]
        print(f"{name:<30} F1 {format_ci(m['f1'])}  "
              f"recall {m['recall']['mean']:.3f}  {r['per_example']['wall_s']:.1f} s/question  "
              f"ΔF1 vs all 0.5B {r['f1_vs_all_0.5b']['mean']:+.3f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
