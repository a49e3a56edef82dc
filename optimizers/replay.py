"""Recording every step call of a program run, and re-running a program from one step onward (OPRO, MASPO).

A candidate instruction for a later step leaves every call before that step's first call as it was, so a re-run
replays those calls from a recorded run of the same example and only the calls from the step onward reach the LM.
Replay stops at the first call it cannot serve (another step than recorded, other inputs, or the changed step):
whatever runs after it may depend on what changed. The recorded calls are also what a proposer is shown of a
step's inputs.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass

import dspy
from dspy.evaluate.evaluate import EvaluationResult
from dspy.utils.callback import with_callbacks

from programs.instructions import with_instructions

logger = logging.getLogger(__name__)

# The run a step call belongs to: where it is recorded and which recorded calls it replays.
_RUN: contextvars.ContextVar[dict | None] = contextvars.ContextVar("replay_run", default=None)


@dataclass
class Run:
    """One example run: the step calls in order as (step, inputs, outputs), the final prediction, its metric."""

    events: list[tuple[str, dict, dict]]
    prediction: object
    score: float | None
    fresh: int = 0  # step calls that ran rather than replayed: the run's LM calls

    @property
    def calls(self) -> dict[str, list[tuple[dict, dict]]]:
        """Each step's calls as (inputs, outputs), in the order the program first called the steps."""
        out: dict[str, list] = {}
        for step, inputs, outputs in self.events:
            out.setdefault(step, []).append((inputs, outputs))
        return out

    def before(self, step: str) -> list[tuple[str, dict, dict]]:
        """The calls before `step`'s first one: what a re-run with a new instruction for `step` replays."""
        for i, (name, _, _) in enumerate(self.events):
            if name == step:
                return self.events[:i]
        return list(self.events)  # the step was never called: nothing it says can change this run

    def calls_from(self, step: str | None) -> int:
        """The step calls a re-run from `step`'s first call on makes, the ones before it replayed (0 if it was never
        called)."""
        return len(self.events) - len(self.before(step))


def recording(student, instructions: dict[str, str]):
    """A copy of the program with these instructions whose predictors record (and replay) their calls."""
    program = with_instructions(student, instructions)
    for name, predictor in program.named_predictors():
        # The class attribute, bound by hand: reading `predictor.forward` makes DSPy warn about direct calls.
        predictor.forward = _recorded(name, predictor, type(predictor).forward.__get__(predictor))
    return program


def _recorded(name, predictor, forward):
    def call(**kwargs):
        run = _RUN.get()
        if run is None:
            return forward(**kwargs)
        replay, events = run["replay"], run["events"]
        inputs = {k: kwargs[k] for k in predictor.signature.input_fields if k in kwargs}
        recorded = replay[len(events)] if len(events) < len(replay) and not run["fresh"] else None
        if recorded is not None and recorded[0] == name and _same(recorded[1], inputs):
            outputs = recorded[2]
            prediction = dspy.Prediction(**outputs)
        else:  # the run departed from the recording (or it is over): this call and all after it run
            run["fresh"] += 1
            prediction = forward(**kwargs)
            outputs = {k: prediction.get(k) for k in predictor.signature.output_fields}
        events.append((name, inputs, outputs))
        return prediction
    return call


def _same(a: dict, b: dict) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001  (values without a plain equality, e.g. arrays: not the same, so run it)
        return False


def run_one(program, example, metric, replay: list | None = None) -> Run:
    """Runs one example (replaying `replay`'s calls while they match) and scores it with `metric` (None: no score).
    A program or metric error is a failed run, scored 0, as `dspy.Evaluate` scores it."""
    token = _RUN.set({"events": [], "replay": replay or [], "fresh": 0})
    try:
        try:
            prediction = program(**example.inputs())
            score = None if metric is None else float(metric(example, prediction))
        except Exception as error:  # noqa: BLE001  (a failed run is a bad outcome, scored as such, and said)
            logger.warning("a run failed and scores 0: %s: %s", type(error).__name__, str(error)[:200])
            prediction, score = None, None if metric is None else 0.0
        state = _RUN.get()
    finally:
        _RUN.reset(token)
    return Run(state["events"], prediction, score, state["fresh"])


def run_all(program, examples: list, metric, replays: list | None = None, jobs: int = 1) -> list[Run]:
    """`run_one` over the examples (each with its replay), in order, on `jobs` threads."""
    pairs = list(zip(examples, replays or [None] * len(examples)))
    if jobs <= 1:
        return [run_one(program, ex, metric, rp) for ex, rp in pairs]
    from dspy.utils.parallelizer import ParallelExecutor

    # timeout=0: no second copy of a slow example (its LM calls would go uncounted and keep running)
    executor = ParallelExecutor(num_threads=jobs, disable_progress_bar=True, max_errors=len(examples) + 1, timeout=0)
    return executor.execute(lambda pair: run_one(program, pair[0], metric, pair[1]), pairs)


class RecordedEvaluate(dspy.Evaluate):
    """`run_all` as a `dspy.Evaluate`: DSPy callbacks (compile.py's live score history and progress, MLflow's
    autolog) see each scoring as the evaluation it is. The runs, with their recorded calls, are kept in `runs`."""

    def __init__(self, *, devset: list, metric, replays: list | None = None, num_threads: int = 1):
        super().__init__(devset=devset, metric=metric, num_threads=num_threads, display_progress=False)
        self.replays, self.runs = replays, []

    @with_callbacks
    def __call__(self, program, **kwargs) -> EvaluationResult:
        self.runs = run_all(program, self.devset, self.metric, self.replays, self.num_threads)
        scores = [r.score for r in self.runs]
        return EvaluationResult(score=round(100 * sum(scores) / max(len(scores), 1), 2),
                                results=[(ex, r.prediction, r.score) for ex, r in zip(self.devset, self.runs)])
