"""Conversation logs with optional feedback: the input of the trajectory optimizer.

A trajectory is a list of chat messages (`role`, `content`; an assistant message may name the `step` that wrote
it) plus optional feedback (`{"score": 0.95}`, `{"comment": "..."}`, both, or None), and, when it was produced
by a program of this project, the program `inputs` that started it, so it can be re-run.

Sources:
- a JSONL file, one trajectory per line: `{"messages": [...], "feedback": {...} | null, "inputs": {...}}`, or
  LangMem's `[messages, feedback]` pairs;
- an MLflow experiment (name or id): the DSPy traces of a served or evaluated program, with the feedback
  logged on them (`mlflow.log_feedback`), each span of a predictor becoming one assistant message of its step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from runtime import UserError


@dataclass
class Trajectory:
    messages: list[dict]
    feedback: dict | None = None
    inputs: dict | None = None
    id: str = ""
    meta: dict = field(default_factory=dict)


def parse(item, where: str) -> Trajectory:
    """One trajectory from a dict or a LangMem `(messages, feedback)` pair; errors name `where`."""
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], list):
        item = {"messages": item[0], "feedback": item[1]}
    if not isinstance(item, dict) or not isinstance(item.get("messages"), list):
        raise UserError(f"{where}: a trajectory needs a 'messages' list (or a [messages, feedback] pair)")
    for k, m in enumerate(item["messages"]):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise UserError(f"{where}: message {k} needs string 'role' and 'content'")
    feedback = item.get("feedback")
    if feedback is not None and not isinstance(feedback, dict):
        raise UserError(f"{where}: 'feedback' must be an object such as {{\"score\": 0.9}} or null")
    if feedback and "score" in feedback and not isinstance(feedback["score"], (int, float)):
        raise UserError(f"{where}: feedback score must be a number, not {feedback['score']!r}")
    inputs = item.get("inputs")
    if inputs is not None and not isinstance(inputs, dict):
        raise UserError(f"{where}: 'inputs' must be an object of the program's input fields")
    return Trajectory(item["messages"], feedback, inputs, str(item.get("id", "")))


def from_jsonl(path: str | Path) -> list[Trajectory]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no trajectory file at {path}: pass a JSONL file or an MLflow experiment name")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise UserError(f"{path}:{n}: not JSON ({exc.msg}); one trajectory per line") from None
        out.append(parse(item, f"{path}:{n}"))
    if not out:
        raise UserError(f"{path} holds no trajectories")
    return out


def _feedback_of(trace) -> dict | None:
    """The newest score and comment of the feedback assessments logged on a trace."""
    feedback = {}
    for a in getattr(trace.info, "assessments", None) or []:
        value = getattr(getattr(a, "feedback", None), "value", None)
        if isinstance(value, bool):
            feedback["score"] = float(value)
        elif isinstance(value, (int, float)):
            feedback["score"] = float(value)
        elif isinstance(value, str) and value:
            feedback["comment"] = value
        if getattr(a, "rationale", None):
            feedback["comment"] = a.rationale
    return feedback or None


def from_mlflow(experiment: str, predictors: dict[str, tuple[set, set]] | None = None,
                max_traces: int = 200) -> list[Trajectory]:
    """Trajectories from the DSPy traces of an MLflow experiment. `predictors` maps each step name to its input
    and output field names, so that a predictor's span becomes an assistant message of that step."""
    import mlflow

    found = mlflow.get_experiment_by_name(experiment) or (mlflow.get_experiment(experiment)
                                                            if experiment.isdigit() else None)
    if found is None:
        raise UserError(f"no MLflow experiment {experiment!r} at {mlflow.get_tracking_uri()}: pass a JSONL file, "
                        f"or the name of the experiment the program's traces are logged in")
    traces = mlflow.search_traces(locations=[found.experiment_id], max_results=max_traces, return_type="list")
    out = []
    for trace in traces:
        spans = sorted(trace.data.spans, key=lambda s: s.start_time_ns)
        root = next((s for s in spans if s.parent_id is None), None)
        inputs = root.inputs if root is not None and isinstance(root.inputs, dict) else None
        if not inputs:
            continue
        inputs = {k: v for k, v in inputs.items() if k not in ("args", "kwargs")}
        messages = [{"role": "user", "content": "\n".join(f"{k}: {v}" for k, v in inputs.items())}]
        for span in spans:
            if span.span_type != "LLM" or not span.name.endswith(".forward") or not isinstance(span.outputs, dict):
                continue  # only predictors' spans: not modules, adapters or raw LM calls
            span_inputs = set(span.inputs) if isinstance(span.inputs, dict) else set()
            step = next((name for name, (ins, outs) in (predictors or {}).items()
                         if ins <= span_inputs and outs <= set(span.outputs)), None)
            if step:
                content = "; ".join(f"{k}: {v}" for k, v in span.outputs.items())
                messages.append({"role": "assistant", "step": step, "content": content})
        if root is not None and isinstance(root.outputs, dict) and len(messages) == 1:
            messages.append({"role": "assistant", "content": json.dumps(root.outputs)})
        out.append(Trajectory(messages, _feedback_of(trace), inputs, trace.info.trace_id))
    if not out:
        raise UserError(f"MLflow experiment {experiment!r} holds no program traces with inputs: serve or evaluate "
                        f"the program with tracing on, then log feedback on its traces")
    return out


def load(source: str, predictors: dict[str, tuple[set, set]] | None = None) -> list[Trajectory]:
    """A JSONL file path, or an MLflow experiment name or id."""
    if source.endswith((".jsonl", ".json")) or Path(source).is_file():
        return from_jsonl(source)
    return from_mlflow(source, predictors)
