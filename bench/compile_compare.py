"""Benchmark: compile researcher_writer with several optimizers, then compare them with the baseline on the
same test examples in one run (eval.py's leaderboard, with paired differences).

    python bench/compile_compare.py                                  # bootstrap and mipro, light budget, 100 test
    python bench/compile_compare.py --optimizers bootstrap --limit 20
    python bench/compile_compare.py --arm "opro --budget medium --max-calls 300" --arm "maspo --label-free ..."
    python bench/compile_compare.py --reuse mipro=artifacts/... --limit 300    # re-evaluate, compile nothing

Each compile is a `compile.py --json` process; the comparison is one `eval.py --artifact ... --baseline --json`
process. Everything shares one LM cache (DSPY_CACHEDIR, default ~/.dspy_cache): a rerun costs nothing, and the
compile wall times are those of the first run. Writes bench/results/compile_compare-<program>-<optimizers>.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_json(cmd: list[str]) -> tuple[dict, float]:
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *cmd], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{cmd[0]} failed with status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def shared_flags(args) -> list[str]:
    """The --agent-model and --program-option flags, repeated for every compile.py and eval.py a benchmark runs."""
    return ([flag for spec in args.agent_model for flag in ("--agent-model", spec)] +
            [flag for option in args.program_option for flag in ("--program-option", option)])


def arm_label(arm: list[str]) -> str:
    """The optimizer, plus the flags that make it another method or another draw: `maspo-label-free`,
    `opro@local-1.5b`, `mipro-instructions@local-1.5b-seed1` (--optimizer-seed 1)."""
    label = "-".join([arm[0], *(f.lstrip("-") for f in arm[1:] if f == "--label-free")])
    if "--prompt-model" in arm[:-1]:
        label += "@" + arm[arm.index("--prompt-model") + 1]
    if "--optimizer-seed" in arm[:-1]:
        label += "-seed" + arm[arm.index("--optimizer-seed") + 1]
    return label


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--program", default="researcher_writer")
    p.add_argument("--optimizers", default=None,
                   help="optimizers to compile with --budget and --extra (default bootstrap,mipro; none with "
                        "--reuse or --edit)")
    p.add_argument("--budget", default="light")
    p.add_argument("--limit", type=int, default=100, help="test examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="local")
    p.add_argument("--agent-model", action="append", default=[], metavar="AGENT=MODEL",
                   help="an agent on its own model, for every compile and the comparison (as in compile.py)")
    p.add_argument("--program-option", action="append", default=[], metavar="NAME=VALUE",
                   help="a program option (e.g. k=2), for every compile and the baseline (as in compile.py)")
    p.add_argument("--extra", default="", help="extra compile.py flags, e.g. '--max-calls 300'")
    p.add_argument("--arm", action="append", default=[],
                   help="an optimizer with its own compile.py flags, e.g. 'maspo --label-free --max-calls 300' "
                        "(repeatable; replaces --optimizers, --budget and --extra)")
    p.add_argument("--reuse", action="append", default=[], metavar="LABEL=ARTIFACT",
                   help="an arm compiled earlier in this cache (e.g. by a run that stopped later): its manifest's "
                        "numbers and wall time are used instead of compiling again")
    p.add_argument("--edit", action="append", default=[], metavar="EDITS.json",
                   help="a hand edit of the instructions (eval.py --instructions) as one more candidate, e.g. "
                        "bench/edits/hand-written-writer.json")
    p.add_argument("--out", default=None, help="results file name (default: from the program and optimizers)")
    args = p.parse_args()
    # Only --reuse or --edit: evaluate those (e.g. on a larger --limit) without compiling anything new.
    optimizers = args.optimizers if args.optimizers is not None else (
        "" if args.reuse or args.edit else "bootstrap,mipro")
    arms = [a.split() for a in args.arm] or [[name, "--budget", args.budget, *args.extra.split()]
                                              for name in optimizers.split(",") if name]
    labels = [arm_label(arm) for arm in arms]
    names = [r.split("=")[0] for r in args.reuse] + labels
    edits = [Path(e).stem for e in args.edit]
    if set(edits) & set(names):  # the report finds a compile's numbers by its label
        sys.exit(f"--edit files need names other than the arms' ({', '.join(sorted(set(edits) & set(names)))}): "
                 f"rename the file")
    names += edits
    out_name = args.out or f"compile_compare-{args.program}-{'_'.join(names)}.json"

    shared = shared_flags(args)
    compiles = {}
    for item in args.reuse:
        label, folder = item.split("=", 1)
        m = json.loads((Path(folder) / "manifest.json").read_text())
        compiles[label] = {"artifact": str(Path(folder).resolve()), "usage": m["usage"], "process_s": m["wall_s"],
                           "optimize_wall_s": m["optimize_wall_s"], "baseline_dev": m["scores"]["baseline_dev"],
                           "compiled_dev": m["scores"]["compiled_dev"], "reused": True}
    for label, (name, *flags) in zip(labels, arms):
        if label in compiles:
            continue
        result, process_s = run_json(["compile.py", "--json", "--program", args.program, "--optimizer", name,
                                      "--seed", str(args.seed), "--model", args.model, *shared, *flags])
        compiles[label] = {**result, "process_s": round(process_s, 1), "flags": flags}
    cmd = ["eval.py", "--json", "--program", args.program, "--split", "test", "--limit", str(args.limit),
           "--seed", str(args.seed), "--model", args.model, *shared, "--baseline"]
    for result in compiles.values():
        cmd += ["--artifact", result["artifact"]]
    for path in args.edit:
        cmd += ["--instructions", str(Path(path).resolve())]
    comparison, _ = run_json(cmd)

    for result in compiles.values():  # the optimizer's own report (OPRO trajectory, MASPO credit) travels along
        manifest = json.loads((Path(result["artifact"]) / "manifest.json").read_text())
        result["optimizer_report"] = manifest.get("optimizer_report")
    out = {"command": shlex.join(["python", "bench/compile_compare.py", *sys.argv[1:]]), "compiles": compiles,
           "comparison": comparison}
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / out_name).write_text(json.dumps(out, indent=2))

    names = {r["artifact"].rsplit("/", 1)[1]: n for n, r in compiles.items()}
    print(f"{args.program}, {args.model}, seed {args.seed}, test n={comparison['n']} "
          f"(fingerprint {comparison['fingerprint']})")
    print(comparison["leaderboard_text"].replace(" | ", " | ").replace("\n", "\n"))
    for n, r in compiles.items():
        u, metric = r["usage"], next(iter(r["baseline_dev"]))  # the program's target metric (f1, accuracy)
        print(f"compile {n}: {r['process_s']:.0f}s wall ({r['optimize_wall_s']:.0f}s optimizing), optimizer LM calls "
              f"{u['optimizer_lm_calls']} ({u['optimizer_cache_hits']} cached), dev {metric} "
              f"{r['baseline_dev'][metric]['mean']:.3f} -> {r['compiled_dev'][metric]['mean']:.3f}")
    print("candidates:", names)


if __name__ == "__main__":
    main()
