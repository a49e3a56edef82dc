"""An evaluation that is also an MLflow run: params, metrics with intervals, the per-example table, traces."""

from __future__ import annotations

import json

import tracking
from evaluation.runner import RunResult, evaluate
from programs.instructions import instructions_of


def log_result(report: dict, result: RunResult) -> None:
    """Log an evaluation's numbers and tables to the active MLflow run."""
    import mlflow

    for name, m in report["metrics"].items():
        mlflow.log_metrics({name: m["mean"], f"{name}_ci_low": m["ci_low"], f"{name}_ci_high": m["ci_high"]})
    mlflow.log_metrics({k: report[k] for k in ("lm_calls", "cache_hits", "wall_s", "lm_s", "overhead_share",
                                               "errors")} | {f"tokens_{k}": v for k, v in report["tokens"].items()})
    rows = result.rows()
    if rows:
        mlflow.log_table(data={k: [json.dumps(r[k]) if isinstance(r[k], (dict, list)) else r[k] for r in rows]
                               for k in rows[0] if k != "trace"}, artifact_file="examples.json")
    tracking.log_json(rows, "examples_with_traces.json")
    tracking.log_json(report, "report.json")


def evaluate_logged(program, examples: list, metrics: dict, *, run_name: str, params: dict, header: dict,
                    nested: bool = False, threads: int = 1, max_errors: int | None = None, progress: bool = True,
                    seed: int = 0, tags: dict | None = None) -> tuple[dict, RunResult]:
    """Evaluate in its own MLflow run (a child run when `nested`); the report starts with `header`."""
    import mlflow

    with tracking.run(run_name, tags={"kind": "eval", **(tags or {})}, nested=nested) as active:
        mlflow.log_params(params)
        result = evaluate(program, examples, metrics, threads=threads, max_errors=max_errors, progress=progress,
                          desc=run_name)
        report = {**header, **result.summary(seed=seed), "mlflow_run_id": active.info.run_id}
        log_result(report, result)
        # The instructions this candidate ran with: a hand edit or an artifact is then readable from its run.
        tracking.log_json(instructions_of(program), "instructions.json")
    return report, result
