"""What the project needs to know about a program: how to build it, its data, and how to score it."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from data.splits import SplitSizes, Splits
from runtime import UserError


@dataclass
class ProgramSpec:
    name: str
    build: Callable[..., object]  # a fresh, uncompiled dspy.Module; its keyword arguments are the program's options
    load_splits: Callable[[int, SplitSizes], Splits]
    metric: Callable  # the optimization target: metric(example, prediction, trace=None) -> float
    metrics: dict[str, Callable] = field(default_factory=dict)  # every per-example score eval reports
    feedback_metric: Callable | None = None  # returns dspy.Prediction(score=..., feedback=...)
    description: str = ""
    # Measured cost of one uncompiled run with the embedded model (bench/eval_baseline.py), for the estimate
    # compile.py prints before it starts: LM calls, prompt and completion tokens, and seconds.
    cost_hint: dict = field(default_factory=lambda: {"lm_calls": 1})
    # Run-level evaluators, name -> fn([(example, prediction, score), ...]) -> float (precision, recall, ...),
    # and how to fold them into one score; optimizers with iteration controls (OPRO) use them.
    summary_evaluators: dict[str, Callable] = field(default_factory=dict)
    compute_score: Callable[[dict], float] | None = None

    def __post_init__(self):
        self.metrics = self.metrics or {"score": self.metric}

    def options(self) -> list[str]:
        """The keyword arguments `build` takes (researcher_writer: hops, k)."""
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return [n for n, p in inspect.signature(self.build).parameters.items() if p.kind in kinds]

    def make(self, options: dict | None = None):
        """A fresh program built with `options`; a name `build` does not take fails with the ones it does."""
        unknown = sorted(set(options or {}) - set(self.options()))
        if unknown:
            raise UserError(f"program {self.name} has no option {unknown[0]!r}: its options are "
                            f"{', '.join(self.options()) or 'none'}")
        return self.build(**(options or {}))
