"""Evaluate programs on a data split: each metric's mean with a 95% bootstrap interval, LM usage and time.

    python eval.py --program researcher_writer --split test --limit 20          # the uncompiled baseline
    python eval.py --artifact artifacts/researcher_writer/<model>/latest --baseline   # leaderboard
    python eval.py --instructions my-writer-edit.json --baseline                      # a hand edit vs as declared
    python eval.py --json > result.json

Every evaluation is an MLflow run (with DSPy traces and a per-example table) in the local SQLite store; a
comparison is a parent run with one child run per candidate and the leaderboard as a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import runtime  # noqa: F401  (offline defaults before dspy/mlflow import)
import cli
from data.splits import SplitSizes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_common_args(parser)
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"])
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N examples of the split")
    parser.add_argument("--artifact", action="append", default=[],
                        help="a compiled artifact (folder, its 'latest' file, or models:/name@alias); repeatable. "
                             "Each runs on --model, so all candidates share one model")
    parser.add_argument("--instructions", action="append", default=[], metavar="EDITS.json",
                        help="the program as declared with some instructions replaced: a JSON object of predictor "
                             "name -> instruction (a hand edit to measure); repeatable, each a candidate named by "
                             "its file")
    parser.add_argument("--baseline", action="store_true",
                        help="with --artifact or --instructions: also evaluate the uncompiled program (always on "
                             "without them)")
    parser.add_argument("--max-errors", type=int, default=None,
                        help="abort when more examples than this fail (default: only when the first 5 all fail)")
    parser.add_argument("--out", default=None, help="also write the per-example table here (.csv or .json)")
    return parser.parse_args(argv)


def write_table(rows: list[dict], path: Path) -> None:
    """Per-example inputs, outputs, scores and usage; JSON keeps the traces too."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".csv":
        flat = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items() if k != "trace"}
                for r in rows]
        pd.DataFrame(flat).to_csv(tmp, index=False)
    else:
        tmp.write_text(json.dumps(rows, indent=1))
    tmp.replace(path)


def print_one(report: dict) -> None:
    from metrics.summary import format_ci

    print(f"{report.get('candidate', report['program'])} on {report['split']} (n={report['n']}, "
          f"model {report['model']})")
    for name, m in report["metrics"].items():
        print(f"  {name:<8} {format_ci(m)}")
    tok = report["tokens"]
    print(f"  LM calls {report['lm_calls']} ({report['cache_hits']} from cache), tokens {tok['prompt']} prompt + "
          f"{tok['completion']} completion, errors {report['errors']}")
    print(f"  wall {report['wall_s']:.1f}s, in LM calls {report['lm_s']:.1f}s "
          f"(overhead {report['overhead_share']:.1%}), {report['per_example']['wall_s']:.2f}s and "
          f"{report['per_example']['prompt_tokens']:.0f} prompt tokens per example")
    print(f"  MLflow run {report['mlflow_run_id']}")


def print_report(result: dict) -> None:
    if "leaderboard" not in result:
        print_one(result)
        return
    print(f"{result['program']} on {result['split']} (n={result['n']}, model {result['model']}), "
          f"MLflow run {result['mlflow_run_id']}")
    print(result["leaderboard_text"])


def leaderboard(reports: list[dict], per_example: dict[str, list[float]], target: str) -> list[dict]:
    """One row per candidate, best target score first; the paired difference is against the baseline."""
    from metrics.summary import paired_difference_ci

    base = per_example.get("baseline")
    rows = []
    for r in reports:
        row = {"candidate": r["candidate"], **{f"{m}": v for m, v in r["metrics"].items()},
               "lm_calls": r["lm_calls"], "tokens": r["tokens"]["total"], "wall_s": r["wall_s"],
               "s_per_example": r["per_example"]["wall_s"]}
        if base is not None and r["candidate"] != "baseline":
            row[f"{target}_vs_baseline"] = paired_difference_ci(base, per_example[r["candidate"]])
        rows.append(row)
    return sorted(rows, key=lambda row: -row[target]["mean"])


def format_leaderboard(rows: list[dict], metric_names: list[str], target: str) -> str:
    from metrics.summary import format_ci, format_difference

    head = ["candidate", *metric_names, f"Δ{target} vs baseline", "LM calls", "tokens", "s/example"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        delta = r.get(f"{target}_vs_baseline")
        lines.append(" | ".join([r["candidate"], *(format_ci(r[m]) for m in metric_names),
                                 format_difference(delta) if delta else "—",
                                 str(r["lm_calls"]), str(r["tokens"]), f"{r['s_per_example']:.2f}"]))
    return "\n".join(lines)


def run(args) -> dict:
    import lm
    import programs
    import tracking
    from compiled import load_compiled
    from evaluation.logged import evaluate_logged
    from programs.agents import bind_agent_models
    from programs.instructions import read_instructions, with_instructions

    spec = programs.resolve(args.program)
    edits = [(Path(path).stem, read_instructions(path)) for path in args.instructions]  # before the data loads
    # Only the evaluated split is drawn; the others are left empty so a small dataset is no obstacle.
    sizes = cli.split_sizes(args)
    wanted = args.limit if args.limit is not None else getattr(sizes, args.split)
    splits = spec.load_splits(args.seed, SplitSizes(**{args.split: wanted} | {
        other: 0 for other in ("train", "dev", "test") if other != args.split}))
    examples = splits.get(args.split)
    if not examples:
        raise runtime.UserError(f"the {args.split} split is empty: raise --{args.split}-size or --limit")
    agent_models = cli.agent_models(args)
    options = cli.program_options(args)  # the baseline's; an artifact is built with the options it was compiled with
    bind_agent_models(spec.make(options), dict.fromkeys(agent_models))  # unknown names fail before any model loads
    # Hand edits are checked against the program's predictors before any model loads.
    edited = [(name, with_instructions(spec.make(options), instructions)) for name, instructions in edits]
    pair = lm.configure(args.model, args.prompt_model, args.api_base, args.prompt_api_base, agent_models=agent_models)

    # Every candidate runs on the same models (--model, --agent-model), so the leaderboard compares prompts only.
    candidates = []
    if args.baseline or not (args.artifact or args.instructions):
        candidates.append(("baseline", bind_agent_models(spec.make(options), pair.agent_lms)))
    candidates += [(name, bind_agent_models(program, pair.agent_lms)) for name, program in edited]
    for source in args.artifact:
        program = load_compiled(source, model=args.model, api_base=args.api_base, agent_models=agent_models,
                                tracking_uri=args.tracking_uri)
        if program.manifest["program"] != spec.name:
            raise runtime.UserError(f"{source} is a compiled {program.manifest['program']}, not {spec.name}: "
                                    f"pass --program {program.manifest['program']}")
        candidates.append((program.manifest["artifact_id"], program))
    names = [name for name, _ in candidates]
    if len(set(names)) < len(names):  # the leaderboard and the paired differences are keyed by name
        raise runtime.UserError(f"two candidates are named alike ({', '.join(names)}): rename the --instructions "
                                f"file, or pass each artifact once")
    tracking.setup(spec.name, args.tracking_uri)

    params = {"program": spec.name, "model": pair.task_spec.spec, "agent_models": json.dumps(agent_models),
              "program_options": json.dumps(options), "split": args.split, "n": len(examples),
              "threads": args.threads, **splits.describe()}
    header = {"program": spec.name, "model": pair.task_spec.spec, "agent_models": agent_models,
              "program_options": options, "split": args.split,
              "fingerprint": splits.fingerprints[args.split]}
    # Progress goes to stderr even with --json (stdout is the JSON line): a benchmark's 300-question comparison
    # ran for an hour with nothing in its log.
    common = dict(threads=args.threads, max_errors=args.max_errors, seed=args.seed, progress=True)
    if len(candidates) == 1:
        name, program = candidates[0]
        report, result = evaluate_logged(program, examples, spec.metrics, params=params, header=header,
                                         run_name=f"eval-{args.split}-{name}-{pair.label}", **common)
        tracking.flush_traces()
        if args.out:
            write_table(result.rows(), Path(args.out))
        return {**report, "candidate": name}

    import mlflow

    target = next(iter(spec.metrics))
    reports, per_example, rows = [], {}, []
    with tracking.run(f"compare-{args.split}-{pair.label}", tags={"kind": "compare"}) as parent:
        mlflow.log_params({**params, "candidates": ",".join(n for n, _ in candidates)})
        for name, program in candidates:
            report, result = evaluate_logged(program, examples, spec.metrics, params={**params, "candidate": name},
                                             header={**header, "candidate": name}, nested=True,
                                             run_name=f"{name}", **common)
            reports.append(report)
            per_example[name] = [r.scores[target] for r in result.examples]
            rows += [{"candidate": name, **r} for r in result.rows()]
        board = leaderboard(reports, per_example, target)
        text = format_leaderboard(board, list(spec.metrics), target)
        mlflow.log_text(text, "leaderboard.md")
        tracking.log_json(board, "leaderboard.json")
    tracking.flush_traces()
    if args.out:
        write_table(rows, Path(args.out))
    # Each candidate's target metric per test example, in one order: paired analyses need no MLflow store
    # (bench/selection_power.py: how often a sample of n questions would rank a program above the baseline).
    paired = {"metric": target, "scores": {n: [round(v, 4) for v in vs] for n, vs in per_example.items()}}
    return {**header, "n": len(examples), "entries": reports, "leaderboard": board, "leaderboard_text": text,
            "paired_scores": paired, "mlflow_run_id": parent.info.run_id}


main = cli.command(parse_args, run, print_report)

if __name__ == "__main__":
    main()
