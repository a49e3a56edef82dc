"""Print the README's results tables (markdown) from the JSON the benchmarks wrote in bench/results/.

    python bench/report.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project's packages (not installed into site-packages)

from metrics.summary import format_ci as ci, format_difference, paired_difference_ci  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def eval_baseline(data: dict) -> str:
    cold, warm = data["cold"], data["warm"]
    rows = ["| pass | n | F1 | EM | recall | LM calls (cached) | prompt + completion tokens | wall s | in LM calls s | "
            "overhead | s / example | prompt tokens / example | errors |", "|" + "---|" * 13]
    for name, r in (("cold", cold), ("warm (LM cache)", warm)):
        m = r["metrics"]
        rows.append(f"| {name} | {r['n']} | {ci(m['f1'])} | {ci(m['em'])} | {ci(m['recall'])} | "
                    f"{r['lm_calls']} ({r['cache_hits']}) | "
                    f"{r['tokens']['prompt']:,} + {r['tokens']['completion']:,} | "
                    f"{r['wall_s']:.1f} | {r['lm_s']:.1f} | {r['overhead_share']:.2%} | "
                    f"{r['per_example']['wall_s']:.2f} | {r['per_example']['prompt_tokens']:.0f} | {r['errors']} |")
    rows.append("")
    rows.append(f"Cache speed-up of the second identical evaluation: {data['cache_speedup_eval_loop']}x for the "
                f"evaluation loop, {data['cache_speedup_process']}x for the whole process "
                f"({data['cold_process_s']} s -> {data['warm_process_s']} s, start-up included). "
                f"Test split fingerprint `{cold['fingerprint']}`. Command: `{data['command']}`.")
    return "\n".join(rows)


def compile_compare(data: dict) -> str:
    comparison = data["comparison"]
    target = next(iter(comparison["entries"][0]["metrics"]))
    names = {r["artifact"].rsplit("/", 1)[1]: n for n, r in data["compiles"].items()}
    metric_names = list(comparison["entries"][0]["metrics"])
    per_example = {e["candidate"]: e["per_example"] for e in comparison["entries"]}
    # A candidate's time and tokens are its cost only when no call came from the LM cache (a re-run, a larger
    # --limit, an edit that reuses the baseline's researcher calls): otherwise say how much was replayed.
    replayed = {e["candidate"]: ("cached" if e["cache_hits"] == e["lm_calls"] else
                                 f"{e['cache_hits'] / e['lm_calls']:.0%} cached")
                for e in comparison["entries"] if e["lm_calls"] and e["cache_hits"]}
    rows = [f"| program | {' | '.join('test ' + m for m in metric_names)} | Δ{target} vs baseline (paired) | "
            "s / example | prompt tokens / example | LM calls (eval) | compile wall s | optimizer LM calls |",
            "|" + "---|" * (len(metric_names) + 7)]
    for row in comparison["leaderboard"]:
        name = names.get(row["candidate"], row["candidate"])
        c = data["compiles"].get(name) or {}
        delta = row.get(f"{target}_vs_baseline")
        rows.append(f"| {name} | {' | '.join(ci(row[m]) for m in metric_names)} | "
                    f"{format_difference(delta) if delta else '—'} | "
                    + (f"{replayed[row['candidate']]} | — | " if row["candidate"] in replayed else
                       f"{row['s_per_example']:.2f} | {per_example[row['candidate']]['prompt_tokens']:.0f} | ")
                    + f"{row['lm_calls']} | "
                    f"{c.get('process_s', '—')} | {c.get('usage', {}).get('optimizer_lm_calls', '—')} |")
    rows += compiled_vs_edits(comparison, names, target)
    rows.append("")
    agents = "".join(f", {a} on {m}" for a, m in (comparison.get("agent_models") or {}).items())
    agents += "".join(f", program option {k}={v}" for k, v in (comparison.get("program_options") or {}).items())
    rows.append(f"n = {comparison['n']} test questions (fingerprint `{comparison['fingerprint']}`), task model "
                f"{comparison['model']}{agents}, one run. Command: `{data['command']}`."
                f"{detectable(comparison, target)}")
    return "\n".join(rows)


def compiled_vs_edits(comparison: dict, names: dict, target: str) -> list[str]:
    """Each compiled program against each hand edit evaluated in the same run, paired on the same questions."""
    scores = (comparison.get("paired_scores") or {}).get("scores", {})
    edits = [c for c in scores if c != "baseline" and c not in names]
    lines = [f"{names[c]} vs {e} (paired {target}): {format_difference(paired_difference_ci(scores[e], scores[c]))}"
             for c in names if c in scores for e in edits]
    return ["", *lines] if lines else []


def detectable(comparison: dict, target: str) -> str:
    """The smallest paired difference this test would detect (80% power, 5% two-sided): (1.96 + 0.84) standard
    errors, read off the 95% intervals' widths (3.92 standard errors each); the median over the candidates."""
    widths = sorted(d["ci_high"] - d["ci_low"] for row in comparison["leaderboard"]
                    if (d := row.get(f"{target}_vs_baseline")) and d["ci_high"] > d["ci_low"])
    if not widths:
        return ""
    smallest = 2.8 / 3.92 * widths[len(widths) // 2]
    return (f" At this n the comparison detects a paired difference of about ±{smallest:.3f} in {target} (80% power; "
            f"from the median width of the candidates' intervals).")


def optimizer_reports(data: dict, key: str):
    """(arm, its optimizer's report) for each compiled arm whose report has `key`."""
    for name, c in data["compiles"].items():
        report = c.get("optimizer_report") or {}
        if key in report:
            yield name, report


def maspo_credit(data: dict) -> str:
    """Each MASPO arm's credit report: per agent, what its accepted prompt changes did."""
    out = []
    for name, report in optimizer_reports(data, "credit"):
        run = (f"{report['rounds']} full rounds, stopped by {report['stopped']}, {report['lm_calls']} LM calls, "
               if "stopped" in report else "")  # compiles before MASPO counted its calls
        out += [f"\n\nMASPO credit report of `{name}` ({run}{report['judge_calls']} judgments):\n",
                "| agent | turns | candidates | LM calls | accepted | refused on confirmation | Δ metric of the "
                "accepted, on the questions it was scored on | local wins | misalignment rate |",
                "|---|---|---|---|---|---|---|---|---|"]
        for agent, credit in report["credit"].items():
            refused = credit.get("refused_on_confirmation")  # compiles before MASPO confirmed had none
            out.append(f"| {agent} | {credit['turns']} | {credit['candidates']} | {credit.get('lm_calls', '—')} | "
                       f"{len(credit['accepted'])} | "
                       f"{'—' if refused is None else len(refused)} | {credit['global_delta']:+.3f} | "
                       f"{credit['local_wins']} | {credit['misalignment_rate']:.2f} |")
        out.append(f"\nFinal check on validation: {final_check(report.get('validation'))}.")
    return "\n".join(out)


def final_check(val: dict | None) -> str:
    if not val:
        return "none (nothing accepted, or label-free before it had one)"
    if "judged_wins" in val:  # label-free: the judge on the validation inputs, a sign test
        return (f"the judge preferred the optimized answers {val['judged_wins']} times, the seed's "
                f"{val['judged_losses']} ({val['ties']} ties), p = {val['p_value']:.3f} against {val['alpha']}")
    return f"seed {val['seed']:.3f}, optimized {val['optimized']:.3f}"


def opro_trajectories(data: dict) -> str:
    """Each OPRO arm's score progression: the instructions it wrote, step by step, with their scores."""
    out = []
    for name, report in optimizer_reports(data, "trajectory"):
        whole = report["trajectory"][0]["candidates"][0].get("examples") if report["trajectory"] else None
        raced_header = " (raced to the whole sample)" if whole else ""  # compiles before the race: no counts
        out += [f"\n\nOPRO trajectory of `{name}` (each step's best candidate; training-sample scores):\n",
                f"| step | predictor | candidates{raced_header} | best of step | best so far | instruction |",
                "|---|---|---|---|---|---|"]
        for step in report["trajectory"]:
            if not step["candidates"]:
                continue
            top = max(step["candidates"], key=lambda cand: cand["score"])
            text = top["instruction"]
            text = text if isinstance(text, str) else " / ".join(text.values())
            raced = sum(c.get("examples") == whole for c in step["candidates"]) if whole else None  # before the race
            count = f"{len(step['candidates'])}" + (f" ({raced})" if raced is not None else "")
            out.append(f"| {step['iteration']} | {step['target']} | {count} | {top['score']:.3f} | "
                       f"{step['best_score']:.3f} | {' '.join(text.split())} |")
        finalists = ", ".join(f"{f['train_score']:.3f}/{f['val_score']:.3f}" for f in report.get("finalists", [])
                              if f.get("val_score") is not None)
        out.append(f"\nChosen: best iteration {report['best_iteration']} of {report['total_iterations']}; "
                   f"finalists train/validation: {finalists or '—'}.")
    return "\n".join(out)


def default_compile_cold(data: dict) -> str:
    r = data["result"]
    target = next(iter(r["baseline_dev"]))
    return (f"`{data['command']}` from a cold start: {data['process_s']:.0f} s ({data['process_s'] / 60:.1f} min) "
            f"wall, of which {r['optimize_wall_s']:.0f} s optimizing; dev {target} {ci(r['baseline_dev'][target])} -> "
            f"{ci(r['compiled_dev'][target])}; {r['usage']['optimizer_lm_calls']} optimizer LM calls. "
            f"Command: `python bench/default_compile_cold.py`.")


def trajectories_compare(data: dict) -> str:
    report = data["optimizer_report"]
    rows = [compile_compare(data), "", f"Attribution: {json.dumps(report['attribution'])}", ""]
    for name, change in report["changes"].items():
        rows.append(f"- `{name}`: kept={change['kept']}, check={json.dumps(change.get('check'))} "
                    f"{change.get('skipped', '')}\n  - before: {change['before']}\n  - after: {change['after']}")
    return "\n".join(rows)


def agent_models(data: dict) -> str:
    rows = ["| models | F1 | EM | gold-paragraph recall | ΔF1 vs all 0.5B (paired) | s / question | "
            "prompt tokens / question | LM calls |", "|" + "---|" * 8]
    for name, r in data["results"].items():
        m, d = r["metrics"], r["f1_vs_all_0.5b"]
        rows.append(f"| {name} | {ci(m['f1'])} | {ci(m['em'])} | {ci(m['recall'])} | "
                    f"{format_difference(d)} | {r['per_example']['wall_s']:.2f} | "
                    f"{r['per_example']['prompt_tokens']:.0f} | {r['lm_calls']} |")
    first = next(iter(data["results"].values()))
    rows += ["", f"n = {first['n']} {first['split']} questions (fingerprint `{first['fingerprint']}`), uncompiled, "
                 f"each configuration with an empty LM cache. Command: `{data['command']}`."]
    return "\n".join(rows)


def reply_framing(data: dict) -> str:
    rows = ["| reply framing | F1 | generated tokens / question | prompt tokens / question | s / question (median) |",
            "|---|---|---|---|---|"]
    for name, r in data["arms"].items():
        rows.append(f"| {name} | {ci(r['metrics']['f1'])} | {r['completion_tokens_per_question']:.1f} | "
                    f"{r['prompt_tokens_per_question']:.0f} | {r['s_per_question_median']:.2f} |")
    d = data["f1_prefill_vs_plain"]
    rows += ["", f"n = {data['n']} {data['split']} questions, {data['model']}, each pass a cold eval.py process, "
                 f"arms alternated {data['repeats']}x. Same answer on {data['same_answers']}/{data['n']}; "
                 f"ΔF1 {format_difference(d)}; "
                 f"time ratio prefill / plain {data['time_ratio']:.2f}. "
                 f"Command: `{data['command']}`."]
    return "\n".join(rows)


def judge_agreement(data: dict) -> str:
    s = data["summary"]
    rows = ["| answers differ | judged ties | judge prefers the compiled program | "
            "agrees with F1 (decided, F1 differs) | picks the longer answer | answer words (baseline, compiled) | "
            "F1 (baseline, compiled) |",
            "|" + "---|" * 7,
            f"| {s['answers_differ']} of {s['questions']} | {s['judged_ties']} | {s['judge_prefers_compiled']:.2f} | "
            f"{s['agrees_with_metric']:.2f} of {s['metric_differs_and_decided']} | {s['picks_longer']:.2f} | "
            f"{s['answer_words']['baseline']:.1f}, {s['answer_words']['compiled']:.1f} | "
            f"{s['metric_mean']['baseline']:.3f}, {s['metric_mean']['compiled']:.3f} |",
            "", f"Judge instruction: \"{data['judge_instructions']}\"", f"Command: `{data['command']}`."]
    return "\n".join(rows)


def main():
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    paths = [(RESULTS / "eval_baseline.json", eval_baseline),
             (RESULTS / "default_compile_cold.json", default_compile_cold)]
    paths += [(p, lambda d: compile_compare(d) + opro_trajectories(d) + maspo_credit(d))
              for p in sorted(RESULTS.glob("compile_compare*.json"))]
    paths += [(p, trajectories_compare) for p in sorted(RESULTS.glob("trajectories_compare*.json"))]
    paths += [(p, agent_models) for p in sorted(RESULTS.glob("agent_models*.json"))]
    paths += [(p, reply_framing) for p in sorted(RESULTS.glob("reply_framing*.json"))]
    paths += [(p, judge_agreement) for p in sorted(RESULTS.glob("judge_agreement*.json"))]
    for path, render in paths:
        if path.is_file():
            print(f"### {path.name}\n")
            print(render(json.loads(path.read_text())))
            print()


if __name__ == "__main__":
    main()
