"""Benchmark analysis: how often would n questions rank a compiled program above the baseline?

An optimizer decides on small samples (OPRO scores candidates on 8-32 training questions, MASPO on minibatches
of 8; every final check and MIPROv2's whole search use --val-size questions). This takes a comparison's paired
per-question scores on the test set (where the programs' true difference is known to within its interval) and
draws many samples of n questions from them: the share where the program scores above the baseline, and where
they tie (the seed wins ties in OPRO's and MASPO's final checks). It says how much one compile's choice at a
given budget can be told from a coin flip, and how often OPRO's race (8, 16, 24 questions, then a final check on
15 others) would adopt each program, against one stage (ahead on 8, then the final check), and how often MASPO's
acceptance would (its agent's minibatch of 8, then the race on other questions, then the final check), when only
a win on the minibatch starts the race and when a level score does too.

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


def ordered_sample(n_items: int, n: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct question indices per draw, in a random order (each draw a row)."""
    keys = rng.random((draws, n_items))
    picked = np.argpartition(keys, n - 1, axis=1)[:, :n]
    return np.take_along_axis(picked, np.argsort(np.take_along_axis(keys, picked, axis=1), axis=1), axis=1)


def stays_ahead(values: np.ndarray, rungs: list[int]) -> np.ndarray:
    """Per draw: the running sum of its differences is above zero at every rung (ties drop it)."""
    running = np.cumsum(values[:, :rungs[-1]], axis=1)
    return np.all(running[:, [r - 1 for r in rungs]] > 1e-9, axis=1)


def race_outcomes(differences: np.ndarray, rungs: list[int], final: int, draws: int,
                  rng: np.random.Generator) -> tuple[float, float]:
    """(P(survives the race), P(survives it and then wins a final check on `final` other questions)).

    OPRO's race: a candidate scored on the first rungs[0] questions of its sample, then rungs[1], ... goes on only
    while its paired sum is above zero (ahead of the seed; ties drop it); it becomes a finalist only if ahead on
    all rungs[-1]. The final check is on questions the race did not see, and the seed wins its ties."""
    values = differences[ordered_sample(len(differences), rungs[-1] + final, draws, rng)]
    survives = stays_ahead(values, rungs)
    wins = values[:, rungs[-1]:].sum(axis=1) > 1e-9 if final else np.ones(draws, dtype=bool)
    return float(survives.mean()), float((survives & wins).mean())


def maspo_outcomes(differences: np.ndarray, first: int, rungs: list[int], final: int, draws: int,
                   rng: np.random.Generator) -> dict[str, float]:
    """How often a candidate is accepted (survives the race) and adopted (then wins the final check), when only a
    win on the minibatch starts the race (`…_if_ahead`) and when a level score does too (`…_if_level_or_ahead`).

    MASPO's acceptance: a candidate scored on its agent's minibatch of `first` questions is raced, against the
    current prompt, on other questions (ahead at each of `rungs`, counting the race's questions alone), then the
    final check on `final` questions; the seed wins ties there. The final check is MASPO's validation split, so
    its questions are drawn apart from the others: taken from what the minibatch and race left, they would be
    the worse for a candidate those favoured. Level means the minibatch's differences sum to zero; MASPO races a
    level candidate only if it also wrote other output there, which scores alone cannot show, so the level
    columns are upper bounds."""
    values = differences[ordered_sample(len(differences), first + rungs[-1], draws, rng)]
    minibatch = values[:, :first].sum(axis=1)
    survives = stays_ahead(values[:, first:], rungs)
    wins = (differences[ordered_sample(len(differences), final, draws, rng)].sum(axis=1) > 1e-9 if final
            else np.ones(draws, dtype=bool))
    starts = {"if_ahead": minibatch > 1e-9, "if_level_or_ahead": minibatch > -1e-9}
    return {f"{what}_{when}": round(float((raced & start).mean()), 3)
            for what, raced in (("accepted", survives), ("adopted", survives & wins)) for when, start in starts.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", help="a results file in bench/results with paired_scores")
    p.add_argument("--sizes", default="8,15,30,50,100", help="sample sizes (questions)")
    p.add_argument("--draws", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--race", default="8,16,24", help="OPRO's race: the rungs a candidate must stay ahead at")
    p.add_argument("--final", type=int, default=15, help="questions in the final check after the race")
    p.add_argument("--maspo-minibatch", type=int, default=8,
                   help="MASPO's minibatch before its race on other questions (0: leave MASPO's columns out)")
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
    rungs = [int(r) for r in args.race.split(",")]
    rng = np.random.default_rng(args.seed)
    race_rng = np.random.default_rng([args.seed, 1])  # its own stream: the n columns do not depend on --race
    maspo_rng = np.random.default_rng([args.seed, 2])
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
        if rungs[-1] + args.final <= len(d):
            survives, adopted = race_outcomes(d, rungs, args.final, args.draws, race_rng)
            _, one_stage = race_outcomes(d, rungs[:1], args.final, args.draws, race_rng)
            row["race"] = {"survives": round(survives, 3), "adopted": round(adopted, 3),
                           "adopted_one_stage": round(one_stage, 3)}
        if args.maspo_minibatch and args.maspo_minibatch + rungs[-1] <= len(d) and args.final <= len(d):
            row["maspo"] = maspo_outcomes(d, args.maspo_minibatch, rungs, args.final, args.draws, maspo_rng)
        rows.append(row)
    rows.sort(key=lambda r: -r["mean_difference"])

    split = comparison.get("split", "test")
    print(f"{path.name}: {metric} on n={len(base)} {split} questions; share of {args.draws} draws of n questions in "
          f"which the program scores above the baseline (ties in brackets), seed {args.seed}")
    race = "/".join(map(str, rungs))
    print("candidate | Δ on all | better / worse | " + " | ".join(f"n={n}" for n in sizes) +
          f" | survives race {race} | and wins final {args.final} | ahead on {rungs[0]}, wins final {args.final}"
          f" | MASPO accepts: ahead on its {args.maspo_minibatch}, then race | level or ahead, then race"
          f" | MASPO adopts (and final {args.final}): ahead | level or ahead")
    print("--- | --- | --- | " + " | ".join("---" for _ in sizes) + " | --- | --- | ---" + " | ---" * 4)
    for r in rows:
        cells = [f"{r['samples'][n]['above']:.2f} ({r['samples'][n]['tie']:.2f})" for n in sizes]
        race_cells = r.get("race", {})
        cells += [f"{race_cells[k]:.2f}" if k in race_cells else "—"
                  for k in ("survives", "adopted", "adopted_one_stage")]
        cells += [f"{r['maspo'][k]:.2f}" if "maspo" in r else "—"
                  for k in ("accepted_if_ahead", "accepted_if_level_or_ahead", "adopted_if_ahead",
                            "adopted_if_level_or_ahead")]
        print(f"{r['candidate']} | {r['mean_difference']:+.3f} | {r['better']} / {r['worse']} | " + " | ".join(cells))
    out = path.parent / f"selection_power-{path.name}"
    command = (f"python bench/selection_power.py {args.file} --sizes {args.sizes} --draws {args.draws} "
               f"--seed {args.seed} --race {args.race} --final {args.final} --maspo-minibatch {args.maspo_minibatch}")
    out.write_text(json.dumps({"command": command,
                               "source": path.name, "metric": metric, "n": len(base), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
