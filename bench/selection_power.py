"""Benchmark analysis: how often would n questions rank a compiled program above the baseline?

An optimizer decides on small samples (OPRO scores candidates on 8-32 training questions, MASPO on minibatches
of 8; every final check and MIPROv2's whole search use --val-size questions). This takes a comparison's paired
per-question scores on the test set (where the programs' true difference is known to within its interval) and
draws many samples of n questions from them: the share where the program scores above the baseline, and where
they tie (the seed wins ties in OPRO's and MASPO's final checks). It says how much one compile's choice at a
given budget can be told from a coin flip.

    python bench/selection_power.py compile_compare-researcher_writer-seeds-300.json
    python bench/selection_power.py FILE --sizes 8,15,30,50,100 --draws 20000 --seed 0

Reads bench/results/FILE (a compile_compare or eval.py comparison with `paired_scores`), prints a table and
writes selection_power-FILE next to it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def sample_outcomes(differences: np.ndarray, n: int, draws: int, rng: np.random.Generator) -> tuple[float, float]:
    """(P(above), P(tie)) of the sum of n paired differences drawn without replacement."""
    keys = rng.random((draws, len(differences)))
    picked = np.argpartition(keys, n - 1, axis=1)[:, :n]  # n distinct questions per draw
    sums = differences[picked].sum(axis=1)
    return float((sums > 1e-9).mean()), float((np.abs(sums) <= 1e-9).mean())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", help="a results file in bench/results with paired_scores")
    p.add_argument("--sizes", default="8,15,30,50,100", help="sample sizes (questions)")
    p.add_argument("--draws", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    path = Path(args.file) if Path(args.file).exists() else RESULTS / args.file
    if not path.exists():
        raise SystemExit(f"no results file {args.file}: give a file in {RESULTS} (python bench/report.py lists them)")
    data = json.loads(path.read_text())
    comparison = data.get("comparison", data)
    if "paired_scores" not in comparison:
        raise SystemExit(f"{path.name} has no paired_scores (older eval.py versions did not write them): re-run "
                         f"its command, which replays from the LM cache")
    metric, scores = comparison["paired_scores"]["metric"], comparison["paired_scores"]["scores"]
    base = np.array(scores["baseline"])
    sizes = [int(s) for s in args.sizes.split(",")]
    sizes = [n for n in sizes if n <= len(base)]
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, values in scores.items():
        d = np.array(values) - base
        if name == "baseline" or not d.any():
            continue  # the seed itself (an optimizer that kept it) differs on no question
        row = {"candidate": name, "mean_difference": round(float(d.mean()), 4),
               "better": int((d > 0).sum()), "worse": int((d < 0).sum()), "samples": {}}
        for n in sizes:
            above, tie = sample_outcomes(d, n, args.draws, rng)
            row["samples"][n] = {"above": round(above, 3), "tie": round(tie, 3)}
        rows.append(row)
    rows.sort(key=lambda r: -r["mean_difference"])

    print(f"{path.name}: {metric} on n={len(base)} test questions; share of {args.draws} draws of n questions in "
          f"which the program scores above the baseline (ties in brackets), seed {args.seed}")
    print("candidate | Δ on all | better / worse | " + " | ".join(f"n={n}" for n in sizes))
    print("--- | --- | --- | " + " | ".join("---" for _ in sizes))
    for r in rows:
        cells = [f"{r['samples'][n]['above']:.2f} ({r['samples'][n]['tie']:.2f})" for n in sizes]
        print(f"{r['candidate']} | {r['mean_difference']:+.3f} | {r['better']} / {r['worse']} | " + " | ".join(cells))
    out = path.parent / f"selection_power-{path.name}"
    out.write_text(json.dumps({"command": f"python bench/selection_power.py {args.file} --sizes {args.sizes} "
                                          f"--draws {args.draws} --seed {args.seed}",
                               "source": path.name, "metric": metric, "n": len(base), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
