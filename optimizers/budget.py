"""Compile budgets sized for the project's machine: 2 CPU cores running a 0.5B model at ~5-12 s per program run.

A budget caps how many times the optimizer may run the program (on training or validation examples), and
sizes the training and validation sets it draws from. DSPy's own presets assume a hosted model (MIPROv2 light
alone makes ~1,200 program calls, hours here); these are the same ideas at this machine's scale.
`--max-calls N` caps every LM call the optimizer plans, the program's and the prompt model's (proposals,
judgments) together: `fit` picks the largest run cap whose plan stays within N, so optimizers that judge with an
LM (MASPO) and those that do not (OPRO, MIPROv2) can be given the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from runtime import UserError


@dataclass(frozen=True)
class Budget:
    name: str
    program_runs: int  # cap on program executions during optimization (not counting the final evaluations)
    train_size: int
    val_size: int
    max_calls: int | None = None  # cap on all the optimizer's LM calls, program and prompt model (see `fit`)
    calls_per_run: int = 1  # the program's LM calls per run, with max_calls

    def with_max_calls(self, max_calls: int | None, calls_per_run: int) -> "Budget":
        if max_calls is None:
            return self
        if max_calls < calls_per_run:
            raise UserError(f"--max-calls {max_calls} is less than one program run ({calls_per_run} LM calls)")
        return replace(self, name=f"{self.name}+max_calls={max_calls}", program_runs=max_calls // calls_per_run,
                       max_calls=max_calls, calls_per_run=calls_per_run)

    def planned_calls(self, plan) -> int:
        return plan.program_runs * self.calls_per_run + plan.prompt_calls


def fit(recipe, budget: Budget, n_train: int, n_val: int, n_predictors: int):
    """(budget, plan): the recipe's plan, and under max_calls the largest run cap whose plan's LM calls fit.

    Without this a run cap is not a call budget: at 200 runs of a 2-call program MASPO's judge adds ~270 calls to
    its ~320, OPRO's proposer 16."""
    plan = recipe.plan(budget, n_train, n_val, n_predictors)  # a budget too small for any plan fails here
    if budget.max_calls is None:
        return budget, plan
    least = budget.planned_calls(plan)
    for runs in range(budget.program_runs, 0, -1):
        trial = replace(budget, program_runs=runs)
        try:
            plan = recipe.plan(trial, n_train, n_val, n_predictors)
        except UserError:
            break  # a smaller cap fits no plan either
        least = min(least, budget.planned_calls(plan))
        if budget.planned_calls(plan) <= budget.max_calls:
            return trial, plan
    raise UserError(f"--max-calls {budget.max_calls} is too small for {recipe.name} once its prompt-model calls "
                    f"are counted (its smallest plan makes ~{least}): raise --max-calls, or use a smaller --val-size")


PRESETS = {
    # The default compile: fits within 15 minutes on 2 cores, cold caches included.
    "light": Budget("light", program_runs=60, train_size=30, val_size=15),
    "medium": Budget("medium", program_runs=300, train_size=100, val_size=50),
    "heavy": Budget("heavy", program_runs=1000, train_size=200, val_size=100),
}


def get_budget(name: str) -> Budget:
    if name not in PRESETS:
        raise UserError(f"unknown budget {name!r}: choose one of {', '.join(PRESETS)}, or set --max-calls")
    return PRESETS[name]
