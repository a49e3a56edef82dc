"""Benchmark: optimize researcher_writer from its own logs, then compare with the baseline on the test split.

    python bench/trajectories_compare.py                 # 30 training questions logged, 100 test questions
    python bench/trajectories_compare.py --logged 10 --limit 20
    python bench/trajectories_compare.py --logged 20 --prompt-model local-1.5b   # a stronger optimizer model
    python bench/trajectories_compare.py --agent-model writer=local-1.5b --program-option k=2   # the best program

1. `eval.py --split train --limit N --out logs.json`: the baseline program on N training questions, with each
   step's inputs and outputs (its trace).
2. Those runs become trajectories: the question, one assistant message per step (tagged with the step), and
   feedback computed from the gold answer (the F1 as the score, a comment naming what went wrong) and then
   stripped of the answer: the optimizer never sees a gold answer.
3. `compile.py --optimizer trajectories --from-logs trajectories.jsonl`.
4. The LangMem way, for comparison: every edit the optimizer proposed, applied without the re-run check (an
   artifact in a temporary folder, never `latest`).
5. `eval.py --artifact <it> --artifact <unchecked> --baseline --split test`: all on the same test questions in one
   run.

Writes bench/results/trajectories_compare-researcher_writer.json (with the attribution report).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # the project's packages, and the sibling benchmark

import programs  # noqa: E402
from compile_compare import run_json, shared_flags  # noqa: E402
from compiled.artifact import write_artifact  # noqa: E402
from programs.instructions import with_instructions  # noqa: E402


def comment_without_answer(scores: dict) -> str:
    """What went wrong, from the F1 and the evidence recall, never quoting the gold answer."""
    if scores.get("f1", 0.0) >= 1.0:
        return "Correct answer."
    if scores.get("recall", 0.0) == 0.0:
        return "Wrong answer: the searches found none of the paragraphs the question needs."
    if scores.get("recall", 0.0) < 1.0:
        return "Wrong or partial answer: only one of the paragraphs the question needs was found."
    return "Wrong or partial answer although every paragraph needed was found: the answer was misread or too long."


def to_trajectory(row: dict) -> dict:
    messages = [{"role": "user", "content": row["inputs"]["question"]}]
    for step in row.get("trace", []):
        content = "; ".join(f"{k}: {v}" for k, v in step["outputs"].items())
        messages.append({"role": "assistant", "step": step["predictor"], "content": content})
    return {"id": row["id"], "messages": messages, "inputs": row["inputs"],
            "feedback": {"score": round(row["scores"].get("f1", 0.0), 3),
                         "comment": comment_without_answer(row["scores"])}}


def unchecked_artifact(checked: Path, root: Path) -> Path | None:
    """The program with every proposed edit applied, kept or not (LangMem: the LM's judgment alone); None when no
    edit was proposed or all were kept (then it is the checked artifact)."""
    manifest = json.loads((checked / "manifest.json").read_text())
    changes = manifest["optimizer_report"]["changes"]
    edits = {name: c["after"] for name, c in changes.items() if c.get("after")}
    if not edits or all(c.get("kept") for c in changes.values() if c.get("after")):
        return None
    program = with_instructions(programs.resolve(manifest["program"]).make(manifest.get("program_options")), edits)
    keep = {k: v for k, v in manifest.items() if k not in ("artifact_id", "created_utc", "content_sha256")}
    return write_artifact(program, {**keep, "optimizer": "trajectories-unchecked"}, program_name=manifest["program"],
                          model_label=manifest["model_label"], root=root)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logged", type=int, default=30, help="training questions run and logged")
    p.add_argument("--limit", type=int, default=100, help="test questions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="local")
    p.add_argument("--prompt-model", default=None, help="the optimizer's model (default: the task model)")
    p.add_argument("--agent-model", action="append", default=[], metavar="AGENT=MODEL",
                   help="an agent on its own model, for the logged runs, the compile and the comparison")
    p.add_argument("--program-option", action="append", default=[], metavar="NAME=VALUE",
                   help="a program option (e.g. k=2), for the logged runs, the compile and the comparison")
    args = p.parse_args()
    program = "researcher_writer"
    shared = shared_flags(args)

    work = Path(tempfile.mkdtemp(prefix="trajectories-"))
    logged, _ = run_json(["eval.py", "--json", "--program", program, "--split", "train", "--limit",
                          str(args.logged), "--seed", str(args.seed), "--model", args.model, *shared,
                          "--out", str(work / "logs.json")])
    rows = json.loads((work / "logs.json").read_text())
    trajectories = [to_trajectory(r) for r in rows]
    (work / "trajectories.jsonl").write_text("\n".join(json.dumps(t) for t in trajectories) + "\n")

    compiled, compile_s = run_json(["compile.py", "--json", "--program", program, "--optimizer", "trajectories",
                                    "--from-logs", str(work / "trajectories.jsonl"), "--seed", str(args.seed),
                                    "--model", args.model, *shared,
                                    *(["--prompt-model", args.prompt_model] if args.prompt_model else [])])
    unchecked = unchecked_artifact(Path(compiled["artifact"]), work / "artifacts")
    comparison, _ = run_json(["eval.py", "--json", "--program", program, "--split", "test", "--limit",
                              str(args.limit), "--seed", str(args.seed), "--model", args.model, *shared, "--baseline",
                              "--artifact", compiled["artifact"],
                              *(["--artifact", str(unchecked)] if unchecked else [])])
    manifest = json.loads((Path(compiled["artifact"]) / "manifest.json").read_text())
    out = {"command": shlex.join(["python", "bench/trajectories_compare.py", *sys.argv[1:]]),
           "logged": {"n": logged["n"], "f1": logged["metrics"]["f1"]},
           "compiles": {"trajectories": {**compiled, "process_s": round(compile_s, 1)},
                        # the same compile's edits, all applied: no compile of its own
                        **({"unchecked edits (LangMem)": {"artifact": str(unchecked)}} if unchecked else {})},
           "optimizer_report": manifest["optimizer_report"], "comparison": comparison}
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.prompt_model}" if args.prompt_model else ""
    suffix += "".join(f"-{spec.replace('=', '-')}" for spec in [*args.agent_model, *args.program_option])
    (results / f"trajectories_compare-{program}{suffix}.json").write_text(json.dumps(out, indent=2))
    print(comparison["leaderboard_text"])
    report = manifest["optimizer_report"]
    print(f"attribution: {report['attribution']}")
    for name, change in report["changes"].items():
        print(f"{name}: kept={change['kept']} check={change.get('check')} {change.get('skipped', '')}\n"
              f"  before: {change['before']}\n  after:  {change['after']}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
