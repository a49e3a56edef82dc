"""Benchmark: what prefilling the reply's field header (lm/adapter.py) saves, on the same questions, same model.

    python bench/reply_framing.py                          # 30 dev questions, embedded 0.5B model, seed 0
    python bench/reply_framing.py --model local-1.5b --limit 20

Two arms of the uncompiled researcher_writer: `plain` (LMCOMPILE_PREFILL=0: DSPy's ChatAdapter framing, the model
writes `[[ ## answer ## ]]` and `[[ ## completed ## ]]` itself) and `prefill` (the default: the header prefilled,
the reply cut at the closing marker). Each pass is its own `eval.py --json` process with an empty LM cache and a
fresh server, since llama.cpp keeps earlier prompts in memory and would serve a second pass over the same
questions from them. The arms alternate `--repeats` times (plain, prefill, plain, prefill, ...) so a slow spell
of the machine falls on both; seconds are medians over the repeats. Writes bench/results/reply_framing-<model>.json;
`bench/report.py` prints it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

from cold_eval import cold_eval

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"plain": "0", "prefill": "1"}  # LMCOMPILE_PREFILL


def run_pass(args, prefill: str) -> tuple[dict, list[dict]]:
    return cold_eval(["--program", "researcher_writer", "--model", args.model, "--split", args.split,
                      "--limit", str(args.limit), "--seed", str(args.seed)], env={"LMCOMPILE_PREFILL": prefill})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="local")
    p.add_argument("--split", default="dev", choices=["dev", "test"])
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from metrics.summary import paired_difference_ci

    passes = {name: [] for name in ARMS}
    for repeat in range(args.repeats):
        for name, prefill in ARMS.items():
            print(f"{name} #{repeat + 1}", file=sys.stderr, flush=True)
            passes[name].append(run_pass(args, prefill))

    results, rows = {}, {}
    for name, runs in passes.items():
        first, rows[name] = runs[0]
        n = first["n"]
        results[name] = {
            "metrics": first["metrics"], "lm_calls_per_question": first["lm_calls"] / n,
            "completion_tokens_per_question": first["tokens"]["completion"] / n,
            "prompt_tokens_per_question": first["tokens"]["prompt"] / n,
            "s_per_question": [r["per_example"]["wall_s"] for r, _ in runs],
            "s_per_question_median": statistics.median(r["per_example"]["wall_s"] for r, _ in runs),
        }
    plain = {r["id"]: r for r in rows["plain"]}
    ids = sorted(plain)
    prefill = {r["id"]: r for r in rows["prefill"]}
    same = sum(plain[i]["outputs"].get("answer") == prefill[i]["outputs"].get("answer") for i in ids)
    out = {"command": shlex.join(["python", "bench/reply_framing.py", *sys.argv[1:]]), "model": args.model,
           "split": args.split, "n": len(ids), "repeats": args.repeats, "arms": results, "same_answers": same,
           "f1_prefill_vs_plain": paired_difference_ci([plain[i]["scores"]["f1"] for i in ids],
                                                       [prefill[i]["scores"]["f1"] for i in ids], seed=args.seed),
           "time_ratio": results["prefill"]["s_per_question_median"] / results["plain"]["s_per_question_median"]}
    path = ROOT / "bench" / "results" / f"reply_framing-{args.model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    for name, r in results.items():
        print(f"{name:<8} F1 {r['metrics']['f1']['mean']:.3f}  {r['completion_tokens_per_question']:.1f} generated "
              f"tokens/question  {r['s_per_question_median']:.2f} s/question (median of {args.repeats})")
    print(f"same answers: {same}/{len(ids)}; time ratio prefill/plain {out['time_ratio']:.2f}; wrote {path}")


if __name__ == "__main__":
    main()
