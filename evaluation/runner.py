"""Run a program over examples with full accounting: scores, LM calls, cache hits, tokens, time, traces.

The one loop behind `eval.py` and every evaluation an optimizer reports. Each example runs in its own DSPy
context (its own usage tracker and trace), so per-example numbers stay right with several threads.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import dspy
from dspy.utils.callback import BaseCallback
from tqdm import tqdm

from metrics.summary import summarize
from runtime import UserError, first_line

ALL_FAILED_AFTER = 5  # this many examples, every one failed: stop, whatever --max-errors says


@dataclass
class ExampleResult:
    id: str
    inputs: dict
    outputs: dict
    scores: dict[str, float]
    lm_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lm_s: float = 0.0
    wall_s: float = 0.0
    error: str | None = None
    trace: list[dict] = field(default_factory=list)


@dataclass
class RunResult:
    examples: list[ExampleResult]
    wall_s: float
    metric_names: list[str]

    def summary(self, *, seed: int = 0) -> dict:
        ex = self.examples
        n = len(ex)
        total = lambda attr: sum(getattr(r, attr) for r in ex)  # noqa: E731
        lm_s = total("lm_s")
        return {
            "n": n,
            "metrics": summarize({m: [r.scores.get(m, 0.0) for r in ex] for m in self.metric_names}, seed=seed),
            "errors": sum(r.error is not None for r in ex),
            "lm_calls": total("lm_calls"),
            "cache_hits": total("cache_hits"),
            "tokens": {"prompt": total("prompt_tokens"), "completion": total("completion_tokens"),
                       "total": total("prompt_tokens") + total("completion_tokens")},
            "wall_s": round(self.wall_s, 3),
            "lm_s": round(lm_s, 3),
            "overhead_share": round(max(self.wall_s - lm_s, 0.0) / self.wall_s, 4) if self.wall_s else 0.0,
            "per_example": {"wall_s": round(self.wall_s / n, 3) if n else 0.0,
                            "prompt_tokens": round(total("prompt_tokens") / n, 1) if n else 0.0},
        }

    def rows(self) -> list[dict]:
        return [asdict(r) for r in self.examples]


class _LMClock(BaseCallback):
    """Counts LM calls and the seconds spent inside them, per thread (one example runs on one thread)."""

    def __init__(self):
        self._local = threading.local()
        self._starts: dict[str, float] = {}

    def reset(self):
        self._local.calls, self._local.seconds = 0, 0.0

    def read(self) -> tuple[int, float]:
        return getattr(self._local, "calls", 0), getattr(self._local, "seconds", 0.0)

    def on_lm_start(self, call_id, instance, inputs):
        self._starts[call_id] = time.perf_counter()

    def on_lm_end(self, call_id, outputs, exception=None):
        start = self._starts.pop(call_id, None)
        if start is not None:
            self._local.calls = getattr(self._local, "calls", 0) + 1
            self._local.seconds = getattr(self._local, "seconds", 0.0) + time.perf_counter() - start


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def evaluate(program, examples: list, metrics: dict, *, threads: int = 1, max_errors: int | None = None,
             progress: bool = True, desc: str = "eval") -> RunResult:
    """Run `program` on every example. An example whose program raises scores 0 on every metric and records the
    error. The run stops with the first error when the first 5 examples all fail (a broken model, not noise) or
    when more than `max_errors` fail (None: no limit)."""
    clock = _LMClock()
    names = {id(p): n for n, p in program.named_predictors()}
    failures: list[str] = []
    completed: list[str] = []
    lock = threading.Lock()
    bar = tqdm(total=len(examples), desc=desc, disable=not progress, file=sys.stderr, dynamic_ncols=True)

    def run_one(example) -> ExampleResult:
        clock.reset()
        start = time.perf_counter()
        inputs = example.inputs().toDict()
        outputs, error, trace = {}, None, []
        with dspy.context(callbacks=[*dspy.settings.callbacks, clock], trace=[]), dspy.track_usage() as usage:
            try:
                prediction = program(**inputs)
                outputs = _jsonable(dict(prediction.items()))
            except Exception as exc:  # noqa: BLE001  (scored as a failure, counted, and reported)
                prediction, error = None, f"{type(exc).__name__}: {first_line(exc, 300)}"
            trace = [{"predictor": names.get(id(p), type(p).__name__), "inputs": _jsonable(i),
                      "outputs": _jsonable(dict(o.items()))} for p, i, o in dspy.settings.trace]
        scores = {m: (float(fn(example, prediction)) if prediction is not None else 0.0) for m, fn in metrics.items()}
        calls, lm_s = clock.read()
        uncached = sum(len(v) for v in usage.usage_data.values())
        tokens = usage.get_total_tokens()
        result = ExampleResult(
            id=str(example.get("id", "")), inputs=inputs, outputs=outputs, scores=scores,
            lm_calls=calls, cache_hits=max(calls - uncached, 0),
            prompt_tokens=sum(t.get("prompt_tokens", 0) or 0 for t in tokens.values()),
            completion_tokens=sum(t.get("completion_tokens", 0) or 0 for t in tokens.values()),
            lm_s=lm_s, wall_s=time.perf_counter() - start, error=error, trace=trace,
        )
        with lock:
            completed.append(result.id)
            bar.update(1)
            if error:
                failures.append(error)
                bar.set_postfix(errors=len(failures))
                done = len(completed)
                # Every example failing is a broken model; some failing is a weak one, scored and reported.
                all_failed = done >= ALL_FAILED_AFTER and len(failures) == done
                if all_failed or (max_errors is not None and len(failures) > max_errors):
                    raise UserError(f"{len(failures)} of {done} examples failed (first: {failures[0]}): the model's "
                                    f"replies cannot be used; check --model" +
                                    ("" if all_failed else ", or raise --max-errors"))
        return result

    start = time.perf_counter()
    try:
        if threads <= 1:
            results = [run_one(ex) for ex in examples]
        else:
            pool = ThreadPoolExecutor(max_workers=threads)
            try:
                # Each task gets a copy of the caller's context, so DSPy settings (LM, adapter) carry over.
                futures = [pool.submit(contextvars.copy_context().run, run_one, ex) for ex in examples]
                results = [f.result() for f in futures]
            finally:
                # After Ctrl-C, a kill or a stopping error (--threads above 1), the examples not yet started are
                # dropped and only those under way finish: leaving the pool as `with` does ran every queued example
                # first (tests/test_cli.py).
                pool.shutdown(wait=False, cancel_futures=True)
    finally:
        bar.close()
    return RunResult(results, time.perf_counter() - start, list(metrics))
