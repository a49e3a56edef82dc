"""Compile a program with an optimizer; save a versioned artifact; log everything to MLflow.

    python compile.py --program researcher_writer                      # BootstrapFewShot, light budget
    python compile.py --program researcher_writer --optimizer mipro --budget medium
    python compile.py --resume                                          # continue an interrupted compile

Reads top to bottom: settings -> data -> models -> estimate -> baseline -> optimize -> evaluate -> artifact ->
MLflow (run, plot, registered model) -> summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import runtime  # noqa: F401  (offline defaults before dspy/mlflow import)
import cli
import optimizers
from data.splits import SplitSizes
from runtime import UserError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_common_args(parser)
    o = parser.add_argument_group("optimizer")
    o.add_argument("--optimizer", default=optimizers.DEFAULT, choices=list(optimizers.REGISTRY),
                   help="; ".join(f"{r.name}: {r.summary}" for r in optimizers.REGISTRY.values()))
    o.add_argument("--budget", default="light", choices=list(optimizers.PRESETS),
                   help="program runs and data sizes sized for a 2-core CPU (see optimizers/budget.py)")
    o.add_argument("--max-calls", type=int, default=None,
                   help="cap the optimizer's LM calls (program and prompt model together) instead")
    o.add_argument("--val-size", type=int, default=None, help="validation (dev) examples (default: the budget's)")
    o.add_argument("--label-free", action="store_true",
                   help="optimize from inputs alone, judged by the prompt model (maspo); labels only score dev")
    o.add_argument("--from-logs", default=None, metavar="FILE_OR_EXPERIMENT",
                   help="trajectories for --optimizer trajectories: a JSONL file or an MLflow experiment of traces")
    o.add_argument("--prompts", default=None, metavar="FILE",
                   help="with --optimizer trajectories: optimize this JSON list of {name, prompt} instead of a program")
    o.add_argument("--alias", default=None, help="also point this registered-model alias (e.g. production) at it")
    o.add_argument("--resume", action="store_true",
                   help="continue the newest interrupted compile of this program and model, with its settings")
    o.add_argument("--optimizer-seed", type=int, default=None,
                   help="seed of the optimizer's own choices (default: --seed); vary it with the data fixed to see "
                        "how much a result owes to the draw")
    o.add_argument("--max-errors", type=int, default=None,
                   help="abort an evaluation when more examples fail (default: only when the first 5 all fail)")
    args = parser.parse_args(argv)
    args.train_size_given = "--train-size" in (argv if argv is not None else sys.argv)
    return args


def estimate(plan, spec, budget, n_val, task_spec, agent_specs=()) -> dict:
    """LM calls, tokens and money before any call is made, from the program's measured cost per run."""
    from lm.pricing import cost_usd

    hint = spec.cost_hint
    runs = plan.program_runs + 2 * n_val  # the optimizer, then the baseline and compiled dev evaluations
    optimizer_calls = plan.program_runs * hint["lm_calls"] + plan.prompt_calls
    calls = optimizer_calls + 2 * n_val * hint["lm_calls"]
    prompt_tokens = runs * hint.get("prompt_tokens", 0) + plan.prompt_calls * 1500
    completion_tokens = runs * hint.get("completion_tokens", 0) + plan.prompt_calls * 300
    # Each token goes to one of the models: pricing them all at the dearest is an upper bound.
    costs = [cost_usd(s.spec, prompt_tokens, completion_tokens, local=s.is_local) for s in [task_spec, *agent_specs]]
    money = None if None in costs else max(costs)
    seconds = _program_seconds(hint, [task_spec, *agent_specs])
    return {"program_runs": runs, "lm_calls": calls, "optimizer_lm_calls": optimizer_calls,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "money_usd": money,
            "wall_s": None if seconds is None else seconds * runs}


def _program_seconds(hint: dict, specs) -> float | None:
    """Seconds per program run, measured with the default model and scaled by the slowest packaged model in use
    (an upper bound when only some agents run on it); unknown for a GGUF file or a hosted model."""
    if "seconds" not in hint or not all(s.packaged for s in specs):
        return None
    return hint["seconds"] * max(s.packaged.relative_time for s in specs)


def prompts_of(program) -> dict:
    """Each predictor's instructions and demos: what an optimizer changes."""
    return {name: json.dumps([p.signature.instructions, [dict(d) for d in p.demos]], default=str, sort_keys=True)
            for name, p in program.named_predictors()}


def print_report(r: dict) -> None:
    if "prompts" in r:  # a prompt list, not a program
        print(json.dumps(r["prompts"], indent=2))
        for name, c in r["report"]["changes"].items():
            check = c.get("check") or {}
            verdict = "kept" if c["kept"] else f"not kept ({c.get('skipped') or 'the judge preferred the old outputs'})"
            wins = f", re-run win rate {check['win_rate']}" if check.get("win_rate") is not None else ""
            print(f"  {name}: {verdict}{wins}", file=sys.stderr)
        print(f"  MLflow: run {r['mlflow_run_id']}", file=sys.stderr)
        return
    from metrics.summary import format_ci

    agents = "".join(f", {agent} on {m}" for agent, m in r["agent_models"].items())
    agents += "".join(f", {name}={value}" for name, value in r.get("program_options", {}).items())
    print(f"\n{r['program']} compiled with {r['optimizer']} on {r['model']}{agents} in {r['wall_s'] / 60:.1f} min")
    for name in r["baseline_dev"]:
        bm, cm = r["baseline_dev"][name], r["compiled_dev"][name]
        print(f"  dev {name:<7} baseline {format_ci(bm)}  ->  compiled {format_ci(cm)}")
    if r.get("unchanged"):
        print("  unchanged: the optimizer kept the baseline's instructions and demos (nothing it tried did better)")
    pe = r["per_example"]
    print(f"  per example: {pe['baseline_s']:.1f}s -> {pe['compiled_s']:.1f}s, {pe['baseline_prompt_tokens']:.0f} -> "
          f"{pe['compiled_prompt_tokens']:.0f} prompt tokens")
    u = r["usage"]
    print(f"  optimizer: {u['optimizer_lm_calls']} LM calls ({u['optimizer_cache_hits']} cached), "
          f"{r['optimize_wall_s']:.0f}s")
    print(f"  artifact:  {r['artifact']}")
    print(f"  MLflow:    run {r['mlflow_run_id']}, registered model {r['registered_model']}")


def describe_estimate(e: dict, recipe, budget) -> str:
    money = "unknown" if e["money_usd"] is None else f"${e['money_usd']:.2f}"
    wall = f", ~{e['wall_s'] / 60:.0f} min on 2 CPU cores" if e["wall_s"] else ""
    cap = f" of --max-calls {budget.max_calls}" if budget.max_calls else ""
    return (f"Plan: {recipe.name} with budget {budget.name}: ~{e['program_runs']} program runs, "
            f"~{e['lm_calls']} LM calls (~{e['optimizer_lm_calls']}{cap} optimizing, the rest evaluating on dev), "
            f"~{e['prompt_tokens'] + e['completion_tokens']:,} tokens, {money}{wall} (cached calls cost nothing)")


def optimizer_seed(args) -> int:
    """The optimizer's seed: --optimizer-seed, else --seed (which also draws the data splits)."""
    seed = getattr(args, "optimizer_seed", None)  # None in a compile interrupted before the flag existed
    return args.seed if seed is None else seed


def check_logs_flags(args, recipe) -> None:
    if recipe.needs_logs and not args.from_logs:
        raise UserError(f"--optimizer {recipe.name} learns from logs: add --from-logs FILE.jsonl or an MLflow "
                        f"experiment name")
    if (args.from_logs or args.prompts) and not recipe.needs_logs:
        raise UserError(f"--from-logs and --prompts go with --optimizer trajectories, not {recipe.name}")


def run_prompt_list(args) -> dict:
    """--prompts: a team's named prompts (no program) rewritten from logs; the result is the updated list."""
    import mlflow

    import lm
    import tracking
    from data import trajectories as logs
    from optimizers.trajectories import TrajectoryOptimizer, check_prompts

    try:
        prompts = check_prompts(json.loads(Path(args.prompts).read_text()))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the prompts in {args.prompts} ({exc}): pass a JSON list of "
                        f"{{\"name\": ..., \"prompt\": ...}}") from None
    trajectories = logs.load(args.from_logs)
    pair = lm.configure(args.model, args.prompt_model, args.api_base, args.prompt_api_base)
    tracking.setup("prompts", args.tracking_uri)
    with tracking.run(f"optimize-prompts-{pair.prompt_spec.label}", tags={"kind": "optimize-prompts"}) as active:
        mlflow.log_params({"optimizer": "trajectories", "prompt_model": pair.prompt_spec.spec,
                           "prompts": args.prompts, "from_logs": args.from_logs, "trajectories": len(trajectories)})
        optimizer = TrajectoryOptimizer(pair.prompt, pair.task, seed=optimizer_seed(args))
        updated = optimizer.optimize(trajectories, prompts)
        mlflow.log_dict(optimizer.report, "report.json")
        mlflow.log_dict({"before": prompts, "after": updated}, "prompts.json")
        mlflow.log_metric("prompts_changed", sum(c["kept"] for c in optimizer.report["changes"].values()))
    return {"prompts": updated, "report": optimizer.report, "mlflow_run_id": active.info.run_id}


def run(args) -> dict:
    import dspy
    import mlflow

    import lm
    import programs
    import tracking
    from compiled import artifact, inflight
    from evaluation.logged import evaluate_logged
    from evaluation.usage import LMMeter
    from lm.factory import ModelSpec, models_label
    from programs.agents import bind_agent_models
    from lm.pricing import cost_usd
    from tracking.trials import TrialLogger, plot_credit, plot_history

    # --- settings (or the interrupted compile's settings) ---
    task_spec = ModelSpec(args.model, args.api_base)
    agent_specs = {agent: ModelSpec(m) for agent, m in cli.agent_models(args).items()}
    model_dir = artifact.model_folder(programs.resolve(args.program).name, models_label(task_spec, agent_specs))
    state = {}
    if args.resume:
        state = inflight.latest(model_dir)
        resumed = argparse.Namespace(**{**vars(args), **state["args"], "resume": True, "json": args.json})
        args = resumed
        print(f"Resuming compile {state['compile_id']} ({args.optimizer}, budget {args.budget}, seed {args.seed})",
              file=sys.stderr)
    agent_specs = {agent: ModelSpec(m) for agent, m in cli.agent_models(args).items()}  # the resumed ones
    options = cli.program_options(args)
    recipe = optimizers.get(args.optimizer)
    check_logs_flags(args, recipe)
    if args.prompts:
        return run_prompt_list(args)
    spec = programs.resolve(args.program)
    if getattr(args, "label_free", False) and not recipe.supports_label_free:
        label_free = [n for n, r in optimizers.REGISTRY.items() if r.supports_label_free]
        raise UserError(f"--label-free is not supported by {recipe.name}: use {', '.join(label_free)}")
    budget = optimizers.get_budget(args.budget).with_max_calls(args.max_calls, spec.cost_hint["lm_calls"])

    # --- data ---
    sizes = SplitSizes(train=args.train_size if args.train_size_given else budget.train_size,
                       dev=args.val_size or budget.val_size, test=0)
    splits = spec.load_splits(args.seed, sizes)
    trainset, valset = splits.train, splits.dev

    # --- plan and estimate, before any LM call ---
    # Unknown program options and agent names fail here, before any model loads.
    student = bind_agent_models(spec.make(options), dict.fromkeys(agent_specs))
    budget, plan = optimizers.fit(recipe, budget, len(trainset), len(valset), len(student.predictors()))
    est = estimate(plan, spec, budget, len(valset), task_spec, agent_specs.values())
    print(describe_estimate(est, recipe, budget), file=sys.stderr)

    # --- models ---
    pair = lm.configure(args.model, args.prompt_model, args.api_base, args.prompt_api_base,
                        agent_models={agent: s.spec for agent, s in agent_specs.items()})
    student = bind_agent_models(student, pair.agent_lms)
    tracking.setup(spec.name, args.tracking_uri)
    compile_id = state.get("compile_id") or uuid.uuid4().hex[:12]
    state = {**state, "compile_id": compile_id, "args": {k: v for k, v in vars(args).items() if k != "resume"}}

    started = time.perf_counter()
    header = {"program": spec.name, "model": pair.task_spec.spec, "split": "dev",
              "fingerprint": splits.fingerprints["dev"]}
    with tracking.run(f"compile-{recipe.name}-{pair.label}", tags={"kind": "compile"},
                      run_id=state.get("mlflow_run_id"), description=spec.description) as parent:
        run_id = parent.info.run_id
        state["mlflow_run_id"] = run_id
        inflight.save(model_dir, state)
        if "baseline" not in state:
            mlflow.log_params({"program": spec.name, "optimizer": recipe.name, "budget": budget.name,
                               "task_model": pair.task_spec.spec, "prompt_model": pair.prompt_spec.spec,
                               "agent_models": json.dumps(pair.agent_models()), "seed": args.seed,
                               "optimizer_seed": optimizer_seed(args), "program_options": json.dumps(options),
                               "compile_id": compile_id, "label_free": args.label_free,
                               **splits.describe(),
                               **{f"opt.{k}": v for k, v in plan.params.items()}})
            mlflow.log_dict(est, "estimate.json")

        # --- baseline on dev ---
        eval_params = {"program": spec.name, "model": pair.task_spec.spec, "split": "dev", "n": len(valset),
                       "dev_fingerprint": splits.fingerprints["dev"]}
        if "baseline" not in state:
            baseline, _ = evaluate_logged(bind_agent_models(spec.make(options), pair.agent_lms), valset, spec.metrics,
                                          run_name="baseline-dev", nested=True,
                                          params=eval_params, header=header, threads=args.threads,
                                          max_errors=args.max_errors, seed=args.seed)
            state["baseline"] = baseline
            inflight.save(model_dir, state)
        baseline = state["baseline"]

        # --- optimize ---
        meter = LMMeter()
        trials = TrialLogger(run_id, full_size=len(valset), start_step=state.get("trial_steps_logged", 0))
        ctx = optimizers.CompileContext(metric=spec.metric, feedback_metric=spec.feedback_metric,
                                        task_lm=pair.task, prompt_lm=pair.prompt, seed=optimizer_seed(args),
                                        threads=args.threads, summary_evaluators=spec.summary_evaluators,
                                        compute_score=spec.compute_score, label_free=args.label_free,
                                        from_logs=args.from_logs,
                                        on_iteration=tracking.IterationLogger(run_id))
        print(f"Optimizing with {recipe.name} on {len(trainset)} train / {len(valset)} dev examples…",
              file=sys.stderr)
        seed_prompts = prompts_of(student)
        opt_started = time.perf_counter()
        try:
            with dspy.context(callbacks=[*dspy.settings.callbacks, meter, trials]), dspy.track_usage() as usage:
                program = recipe.compile(plan, ctx, student, trainset, valset)
        finally:
            state["trial_steps_logged"] = max(state.get("trial_steps_logged", 0), len(trials.history))
            inflight.save(model_dir, state)
        opt_s = time.perf_counter() - opt_started
        unchanged = prompts_of(program) == seed_prompts  # the optimizer found nothing better than the baseline

        # --- the compiled program on dev ---
        compiled, _ = evaluate_logged(program, valset, spec.metrics, run_name="compiled-dev", nested=True,
                                      params=eval_params, header=header, threads=args.threads,
                                      max_errors=args.max_errors, seed=args.seed)

        # --- artifact ---
        tokens = usage.get_total_tokens()  # per LM: the task and the prompt model may differ
        prompt_tokens = sum(t.get("prompt_tokens", 0) or 0 for t in tokens.values())
        completion_tokens = sum(t.get("completion_tokens", 0) or 0 for t in tokens.values())
        served = [(pair.task, pair.task_spec), (pair.prompt, pair.prompt_spec),
                  *((pair.agent_lms[agent], s) for agent, s in pair.agent_specs.items())]
        local = {lm_.model for lm_, s in served if s.is_local}
        costs = [cost_usd(m, t.get("prompt_tokens", 0) or 0, t.get("completion_tokens", 0) or 0, local=m in local)
                 for m, t in tokens.items()]
        usage_report = {"optimizer_lm_calls": meter.calls, "optimizer_cache_hits": meter.calls - meter.uncached(usage),
                        "optimizer_prompt_tokens": prompt_tokens, "optimizer_completion_tokens": completion_tokens,
                        "eval_lm_calls": baseline["lm_calls"] + compiled["lm_calls"],
                        "money_usd": None if None in costs else round(sum(costs), 6)}
        manifest = {
            "optimizer": recipe.name, "optimizer_params": plan.params, "budget": asdict(budget),
            "plan": {"program_runs": plan.program_runs, "prompt_calls": plan.prompt_calls},  # vs usage: actual
            "program_options": options,  # the build's keyword arguments: load_compiled builds the same program
            "unchanged": unchanged,  # the same instructions and demos as the uncompiled program
            "task_model": pair.task_spec.spec, "prompt_model": pair.prompt_spec.spec,
            "agent_models": pair.agent_models(),  # agents that run on their own model; load_compiled binds them
            "api_base": None if pair.task_spec.is_local else pair.task_spec.api_base,
            "seed": args.seed, "optimizer_seed": optimizer_seed(args), "label_free": args.label_free,
            "splits": splits.describe(),
            "scores": {"baseline_dev": baseline["metrics"], "compiled_dev": compiled["metrics"]},
            "target_metric": next(iter(spec.metrics)),
            "usage": usage_report, "optimize_wall_s": round(opt_s, 1),
            "wall_s": round(time.perf_counter() - started, 1), "mlflow_run_id": run_id,
            "packages": tracking.package_versions(),
            # What the optimizer reports about its own search (OPRO's trajectory, MASPO's credit report), if any.
            "optimizer_report": getattr(program, "optimizer_report", None),
        }
        folder = artifact.write_artifact(program, manifest, program_name=spec.name, model_label=pair.label)
        manifest = artifact.read_verified(folder)

        # --- MLflow: scores, plot, files, registered model ---
        target = manifest["target_metric"]
        b, c = baseline["metrics"][target]["mean"], compiled["metrics"][target]["mean"]
        mlflow.log_metrics({f"baseline_dev_{target}": b, f"compiled_dev_{target}": c,
                            "optimize_wall_s": opt_s, **{k: v for k, v in usage_report.items() if v is not None}})
        figures = {"score_history.png": plot_history(trials.history, b, c, f"{spec.name}: {recipe.name} ({target})")}
        credit = (manifest["optimizer_report"] or {}).get("credit")
        if credit:  # MASPO: which agent's prompt changes moved the score
            figures["credit_report.png"] = plot_credit(credit, f"{spec.name}: {recipe.name} credit report")
        import matplotlib.pyplot as plt  # (the plots chose its backend)

        for name, figure in figures.items():
            mlflow.log_figure(figure, name)
            plt.close(figure)  # pyplot keeps every figure open: one per compile in a long-lived process
        mlflow.log_artifacts(str(folder), artifact_path="artifact")
        version = tracking.register_program(program, spec.name, run_id, manifest, alias=args.alias,
                                           description=spec.description)
    tracking.flush_traces()
    inflight.clear(model_dir, compile_id)

    result = {"program": spec.name, "optimizer": recipe.name, "model": pair.task_spec.spec,
              "agent_models": pair.agent_models(), "program_options": options,
              "artifact": str(folder), "mlflow_run_id": run_id, "registered_model": version, "unchanged": unchanged,
              "baseline_dev": baseline["metrics"], "compiled_dev": compiled["metrics"],
              "usage": usage_report, "estimate": est, "wall_s": manifest["wall_s"], "optimize_wall_s": round(opt_s, 1),
              "per_example": {"baseline_s": baseline["per_example"]["wall_s"],
                              "compiled_s": compiled["per_example"]["wall_s"],
                              "baseline_prompt_tokens": baseline["per_example"]["prompt_tokens"],
                              "compiled_prompt_tokens": compiled["per_example"]["prompt_tokens"]}}
    return result


main = cli.command(parse_args, run, print_report, resume_hint="; rerun with --resume to continue where it stopped")

if __name__ == "__main__":
    main()
