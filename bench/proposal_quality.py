"""Benchmark: how good are the instructions MASPO's proposer writes for one agent, before any search?

    python bench/proposal_quality.py --model local --agent-model writer=local-1.5b --program-option k=2 \
        --program-option plain=true --prompt-model local-1.5b --agent writer.write \
        --variant failures --variant successes=1 --proposals 8 --score-size 24 \
        --edit bench/edits/plain-opro-writer-candidate.json

A compile is one draw of proposals, minibatches and races: whether it ships a change is one noisy bit. This
isolates the proposer. From the seed prompts, on one minibatch of 8 training questions (what MASPO's first turn
for the agent shows), each variant of the meta-prompt asks for `--proposals` instructions (half rewrites, half
added rules, as MASPO's `mixed` proposals); every proposal is then scored on the same `--score-size` other
training questions, the agents before the target replaying the seed's outputs (MASPO's joint evaluation,
metric level only: no judge calls). Reported per variant: each proposal's paired change in the metric against
the seed, their median and mean, and how many are above the seed. `--edit` files score as reference rows
(OPRO's shipped instruction, say), on the same questions.

Variants: `failures` (MASPO's meta-prompt, any length), `fresh` (MASPO's `fresh` proposals: rewrites asked as
OPRO asks, the current instruction one scored entry among those tried), `successes=N` (N cases the seed got right
shown after the failures), `no-feedback` (the metric's feedback lines left out), `max-words=N` (instructions of at
most N words asked for, longer ones dropped: MASPO's `max_words`), `opro` (OPRO's first step for the agent on the
same minibatch: the seed's score, 3 exemplars with their expected outputs, 8 tip-led rewrites). The same seed draws the
same cases for each.
Writes bench/results/proposal_quality-<program>-<agent>.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

RESULTS = ROOT / "bench" / "results"


def variant_options(name: str) -> dict:
    """MASPO constructor options for one meta-prompt variant (`opro` is OPRO's own proposer, no options)."""
    kind, _, value = name.partition("=")
    if kind in ("failures", "opro"):
        return {}
    if kind == "fresh":
        return {"proposal": "fresh"}
    if kind == "successes":
        return {"successes_shown": int(value or 1)}
    if kind == "no-feedback":
        return {"feedback_metric": None}
    if kind == "max-words":
        return {"max_words": int(value or 40)}
    raise SystemExit(f"unknown variant {name!r}: use failures, fresh, successes=N, no-feedback, max-words=N or opro")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--program", default="researcher_writer")
    p.add_argument("--model", default="local")
    p.add_argument("--prompt-model", default=None, help="the proposer (default: --model)")
    p.add_argument("--agent-model", action="append", default=[], metavar="AGENT=MODEL")
    p.add_argument("--program-option", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--agent", required=True, help="the predictor whose instruction is proposed, e.g. writer.write")
    p.add_argument("--variant", action="append", default=[],
                   help="failures | fresh | successes=N | no-feedback | max-words=N | opro")
    p.add_argument("--proposals", type=int, default=8, help="proposals asked for per variant")
    p.add_argument("--score-size", type=int, default=24,
                   help="training questions each proposal is scored on (0: count what the filters keep, no scoring)")
    p.add_argument("--train-size", type=int, default=100, help="the compile's training split (budget medium: 100)")
    p.add_argument("--edit", action="append", default=[], help="an instructions JSON scored as a reference row")
    p.add_argument("--seed", type=int, default=0, help="the data splits' seed (compile.py's --seed)")
    p.add_argument("--optimizer-seed", type=int, default=0,
                   help="the draw: which 8 questions the proposer is shown, which it is scored on, which cases")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    variants = args.variant or ["failures"]
    options = {v: variant_options(v) for v in variants}

    import dspy

    import cli
    import lm as lms
    import programs
    from data.splits import SplitSizes
    from optimizers.maspo import MASPO
    from optimizers.opro import OPRO, Candidate
    from optimizers.proposals import example_inputs
    from programs.instructions import instructions_of
    from optimizers.replay import recording
    from programs.agents import bind_agent_models

    spec = programs.resolve(args.program)
    splits = spec.load_splits(args.seed, SplitSizes(train=args.train_size, dev=0, test=0))
    pool = list(splits.train)
    random.Random(args.optimizer_seed).shuffle(pool)
    minibatch, scoring = pool[:8], pool[8:8 + args.score_size]
    pair = lms.configure(args.model, args.prompt_model, agent_models=cli.agent_models(args))
    student = bind_agent_models(spec.make(cli.program_options(args)), pair.agent_lms)

    def optimizer(**extra) -> MASPO:
        kw = {"feedback_metric": spec.feedback_metric, "proposal": "mixed", **extra}
        m = MASPO(spec.metric, prompt_model=pair.prompt, task_model=pair.task, seed=args.optimizer_seed,
                  branch=args.proposals, **kw)
        m._start(student)
        m._probe(student, minibatch[0])
        if args.agent not in m.agents:
            raise SystemExit(f"no agent {args.agent!r}: the program's agents are {', '.join(m.agents)}")
        return m

    def opro_proposals(student, agent: str, examples: list) -> tuple[str, list[str], dict]:
        """OPRO's first step for the agent, shown the same minibatch: the seed's score, 3 exemplars, 8 samples."""
        o = OPRO(spec.metric, prompt_model=pair.prompt, task_model=pair.task, seed=args.optimizer_seed,
                 candidates_per_step=args.proposals, exemplars=3, summary_evaluators=spec.summary_evaluators,
                 compute_score=spec.compute_score)
        seed_prompts = instructions_of(student)
        score, summary, rows = o._score(student, seed_prompts, examples)
        seed = Candidate(seed_prompts, score, 0, "", summary, examples=len(examples))
        text = o._meta_prompt(student, agent, [seed], seed, rows, random.Random(args.optimizer_seed))
        found = o._propose(text, student, agent, seed_prompts, [seed], example_inputs(examples))
        return text, [c[agent] for c in found], dict(o._proposer.dropped)

    started = time.perf_counter()
    with dspy.context(lm=pair.task):
        scorer = optimizer()
        seed_runs = scorer._run_all(recording(student, scorer.current), scoring)
        replays = [run.before(args.agent) for run in seed_runs]
        seed_scores = [run.score for run in seed_runs]

        def score(instruction: str) -> dict:
            if not scoring:
                return {"instruction": instruction}
            runs = scorer._run_all(recording(student, {**scorer.current, args.agent: instruction}), scoring, replays)
            diffs = [c.score - b for c, b in zip(runs, seed_scores)]
            return {"instruction": instruction, "delta": sum(diffs) / len(diffs),
                    "better": sum(d > 1e-9 for d in diffs), "worse": sum(d < -1e-9 for d in diffs)}

        rows: dict[str, list[dict]] = {}
        meta: dict[str, str] = {}
        dropped: dict[str, dict] = {}  # per variant, the samples the proposal filters dropped, by reason
        for name in variants:
            if name == "opro":
                meta[name], proposals, dropped[name] = opro_proposals(student, args.agent, minibatch)
            else:
                m = optimizer(**options[name])
                base = m._base_runs(student, minibatch)
                kind = "fresh" if m.proposal == "fresh" else "rewrite"
                meta[name] = m._meta_prompt(student, args.agent, m.current[args.agent], minibatch, base, [],
                                            kind, random.Random(args.optimizer_seed))  # the first one's
                # The seed is tried, as in a compile: a proposal that gives it back is dropped as a near copy.
                proposals = m._children(student, args.agent, m.current[args.agent], minibatch, base, [],
                                        {m.current[args.agent]}, random.Random(args.optimizer_seed))
                dropped[name] = dict(m._proposer.dropped)
            print(f"{name}: {len(proposals)} proposals; dropped: {dropped[name] or 'none'}", file=sys.stderr,
                  flush=True)
            rows[name] = []
            for k, instruction in enumerate(proposals, 1):
                rows[name].append(score(instruction))
                delta = rows[name][-1].get("delta")
                print(f"  {name} {k}/{len(proposals)}: {'' if delta is None else f'{delta:+.3f}'}  {instruction[:110]}",
                      file=sys.stderr, flush=True)
        references = []
        for path in args.edit if scoring else ():
            edit = json.loads(Path(path).read_text())
            references.append({"edit": path, **score(edit[args.agent])})

    def summary(scored: list[dict]) -> dict:
        deltas = [r["delta"] for r in scored if "delta" in r]
        return {"proposals": len(scored), "median_delta": statistics.median(deltas) if deltas else None,
                "mean_delta": statistics.fmean(deltas) if deltas else None,
                "above_seed": sum(d > 1e-9 for d in deltas), "best_delta": max(deltas, default=None)}

    out = {"command": shlex.join(["python", "bench/proposal_quality.py", *sys.argv[1:]]), "agent": args.agent,
           "seed": args.seed, "optimizer_seed": args.optimizer_seed, "score_size": len(scoring),
           "seed_score": sum(seed_scores) / len(seed_scores) if scoring else None,
           "wall_s": round(time.perf_counter() - started, 1),
           "variants": {name: {"summary": summary(scored), "proposals": scored, "meta_prompt": meta[name],
                               "dropped": dropped[name]}
                        for name, scored in rows.items()},
           "references": references}
    if scoring:
        print(f"\nseed {out['seed_score']:.3f} on {len(scoring)} training questions; per proposal, Δ vs the seed:")
        print(f"{'variant':<16} {'n':>3} {'median':>8} {'mean':>8} {'> seed':>7} {'best':>8}")
    for name, v in out["variants"].items():
        s = v["summary"]
        if not scoring:
            print(f"{name:<16} {s['proposals']:>3} proposals; dropped: {v['dropped'] or 'none'}")
        elif s["proposals"]:
            print(f"{name:<16} {s['proposals']:>3} {s['median_delta']:>+8.3f} {s['mean_delta']:>+8.3f} "
                  f"{s['above_seed']:>7} {s['best_delta']:>+8.3f}")
    for r in references:
        print(f"{Path(r['edit']).stem:<16} {'':>3} {r['delta']:>+8.3f}  ({r['better']} better, {r['worse']} worse)")
    path = RESULTS / (args.out or f"proposal_quality-{args.program}-{args.agent}.json")
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
