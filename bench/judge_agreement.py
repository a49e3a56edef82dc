"""Benchmark: does the prompt model, judging as MASPO does without labels, prefer the answers the metric prefers?

    python bench/judge_agreement.py --artifact <A> --model local --agent-model writer=local-1.5b \
        --program-option k=2 --program-option plain=true --prompt-model local-1.5b --limit 100
    ... --judge-instructions "<another judge instruction>"   # the same pairs, judged under another instruction

MASPO's label-free mode has only the judge: for the last agent, its one pairwise judgment (the step's input, the
current answer, the candidate's) is the local, lookahead and global level at once. This runs the baseline and a
compiled program on the same test questions (`eval.py --out`, so an evaluated pair costs only cache hits) and,
where their final answers differ, asks the judge of the last step which is better, the compiled program's answer
shown as A or B at random. Reported: how often the judge prefers the compiled program, how often it agrees with
the metric (F1) where the F1s differ, and how often it picks the longer answer.

Writes bench/results/judge_agreement-<program>-<artifact id>.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from compile_compare import run_json, shared_flags  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artifact", required=True, help="the compiled program judged against the baseline")
    p.add_argument("--program", default="researcher_writer")
    p.add_argument("--model", default="local")
    p.add_argument("--prompt-model", default=None, help="the judge (default: --model)")
    p.add_argument("--agent-model", action="append", default=[], metavar="AGENT=MODEL")
    p.add_argument("--program-option", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--limit", type=int, default=100, help="test questions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--metric", default="f1")
    p.add_argument("--judge-instructions", default=None, help="judge under this instruction instead of the project's")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as work:
        rows_file = Path(work) / "rows.json"
        run_json(["eval.py", "--json", "--program", args.program, "--split", "test", "--limit", str(args.limit),
                  "--seed", str(args.seed), "--model", args.model, *shared_flags(args), "--baseline",
                  "--artifact", args.artifact, "--out", str(rows_file)])
        rows = json.loads(rows_file.read_text())

    import cli
    import lm as lms
    import programs
    from optimizers.judge import PairwiseJudge, final_text, judge_job
    from optimizers.proposals import fields_text, program_description
    from programs.instructions import instructions_of

    pair = lms.configure(args.model, args.prompt_model, agent_models=cli.agent_models(args))
    program = programs.resolve(args.program).make(cli.program_options(args))
    last, predictor = list(program.named_predictors())[-1]
    job = judge_job(program_description(program), last, predictor.signature, instructions_of(program)[last])
    judge = PairwiseJudge(pair.prompt, instructions=args.judge_instructions)
    rng = random.Random(args.seed)

    by_candidate: dict[str, dict] = {}
    for row in rows:
        by_candidate.setdefault(row["candidate"], {})[row["id"]] = row
    base = by_candidate.pop("baseline")
    (name, compiled), = by_candidate.items()
    judged = []
    for qid, b in base.items():
        c = compiled[qid]
        b_text, c_text = final_text(b["outputs"]), final_text(c["outputs"])
        if b_text.strip() == c_text.strip():
            continue
        step_input = next((t["inputs"] for t in b.get("trace", []) if t["predictor"] == last), b["inputs"])
        verdict = judge(job, fields_text(step_input), b_text, c_text, rng)
        judged.append({"id": qid, "baseline": b_text, "compiled": c_text, "verdict": verdict,
                       "baseline_score": b["scores"][args.metric], "compiled_score": c["scores"][args.metric]})
        print(f"  {len(judged)}: judge {verdict:.1f}, {args.metric} {b['scores'][args.metric]:.2f} -> "
              f"{c['scores'][args.metric]:.2f}", file=sys.stderr, flush=True)

    decided = [j for j in judged if j["verdict"] != 0.5]
    differ = [j for j in decided if j["baseline_score"] != j["compiled_score"]]
    agree = [j for j in differ if (j["verdict"] == 1.0) == (j["compiled_score"] > j["baseline_score"])]
    longer = [j for j in decided if len(j["compiled"]) != len(j["baseline"])]
    picks_longer = [j for j in longer if (j["verdict"] == 1.0) == (len(j["compiled"]) > len(j["baseline"]))]
    words = {who: sum(len(r["outputs"].get("answer", "").split()) for r in rs.values()) / max(len(rs), 1)
             for who, rs in (("baseline", base), ("compiled", compiled))}
    summary = {"questions": len(base), "answers_differ": len(judged), "judged_ties": len(judged) - len(decided),
               "judge_prefers_compiled": sum(j["verdict"] for j in judged) / max(len(judged), 1),
               "metric_differs_and_decided": len(differ), "agrees_with_metric": len(agree) / max(len(differ), 1),
               "picks_longer": len(picks_longer) / max(len(longer), 1), "answer_words": words,
               "metric_mean": {"baseline": sum(r["scores"][args.metric] for r in base.values()) / len(base),
                               "compiled": sum(r["scores"][args.metric] for r in compiled.values()) / len(base)},
               "judge_calls": judge.calls}
    out = {"command": shlex.join(["python", "bench/judge_agreement.py", *sys.argv[1:]]), "artifact": name,
           "judge_instructions": judge.instructions,
           "summary": summary, "judged": judged}
    path = RESULTS / (args.out or f"judge_agreement-{args.program}-{Path(args.artifact).name}.json")
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
