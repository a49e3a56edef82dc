"""The one small interface every optimizer recipe implements (cf. DSPy's `Teleprompter.compile`).

A recipe turns a budget into an optimizer's parameters, estimates what that will cost before any call is made,
and runs `compile(student, trainset, valset) -> program`. The optimizers themselves are DSPy `Teleprompter`s
(DSPy's own, or this project's), so MLflow's DSPy autologging sees each of them the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from optimizers.budget import Budget


@dataclass
class Plan:
    params: dict  # the optimizer's parameters, logged to MLflow and the manifest
    program_runs: int  # estimated program executions
    prompt_calls: int = 0  # estimated calls of the prompt model (proposals, reflections, judgments)
    notes: list[str] = field(default_factory=list)


@dataclass
class CompileContext:
    metric: object
    feedback_metric: object | None
    task_lm: object
    prompt_lm: object
    seed: int
    threads: int = 1
    summary_evaluators: dict = field(default_factory=dict)  # the program's run-level evaluators
    compute_score: object | None = None  # folds the summary evaluators into one score
    on_iteration: object | None = None  # (step name, best score, {filename: text}) -> None: MLflow logging
    label_free: bool = False  # compile from inputs alone (only recipes with `supports_label_free`)
    from_logs: str | None = None  # trajectories (JSONL file or MLflow experiment) for recipes with `needs_logs`


class Recipe(ABC):
    name: str
    summary: str  # one line for --help and the README: what it is for
    supports_label_free = False
    needs_logs = False

    @abstractmethod
    def plan(self, budget: Budget, n_train: int, n_val: int, n_predictors: int) -> Plan: ...

    @abstractmethod
    def compile(self, plan: Plan, ctx: CompileContext, student, trainset: list, valset: list): ...


def tolerated_errors(trainset, valset) -> int:
    """DSPy optimizers abort after `max_errors` failed examples (10 by default). An example whose reply a small
    model garbled is a failed example, scored 0 like in our evaluations, not a reason to lose the compile; a
    broken model is caught before optimizing (the baseline evaluation aborts when its first examples all fail)."""
    return len(trainset) + len(valset or []) + 1
