"""DSPy's BootstrapFewShot and BootstrapFewShotWithRandomSearch, sized by a budget.

bootstrap:    run the program on training examples and keep traces whose answer scores > 0 as demos for every
              predictor. The cheapest real gain; the default.
bootstrap-rs: several such demo sets (shuffled, different sizes), each scored on the validation set; keeps the best.
"""

from __future__ import annotations

import dspy

from optimizers.base import CompileContext, Plan, Recipe, tolerated_errors
from runtime import UserError


class Bootstrap(Recipe):
    name = "bootstrap"
    summary = "BootstrapFewShot: demos from the program's own successful traces (cheapest; the default)"
    max_bootstrapped_demos = 2
    max_labeled_demos = 2

    def plan(self, budget, n_train, n_val, n_predictors):
        # It stops as soon as it has enough demos; the worst case is one run per training example.
        runs = min(n_train, budget.program_runs)
        return Plan({"max_bootstrapped_demos": self.max_bootstrapped_demos,
                     "max_labeled_demos": self.max_labeled_demos, "max_rounds": 1, "train_used": runs},
                    program_runs=runs)

    def compile(self, plan, ctx: CompileContext, student, trainset, valset):
        optimizer = dspy.BootstrapFewShot(metric=ctx.metric, max_bootstrapped_demos=self.max_bootstrapped_demos,
                                          max_labeled_demos=self.max_labeled_demos, max_rounds=1,
                                          max_errors=tolerated_errors(trainset, valset))
        return optimizer.compile(student, trainset=trainset[: plan.params["train_used"]])


class BootstrapRandomSearch(Bootstrap):
    name = "bootstrap-rs"
    summary = "BootstrapFewShotWithRandomSearch: several demo sets, each scored on validation; keeps the best"

    def plan(self, budget, n_train, n_val, n_predictors):
        # Each candidate costs ~one bootstrap pass (a few runs) plus one validation pass; DSPy adds 3 seed
        # candidates (zero-shot, labeled-only, unshuffled bootstrap) to num_candidate_programs.
        per_candidate = n_val + max(4, self.max_bootstrapped_demos * 3)
        candidates = budget.program_runs // per_candidate - 3
        if candidates < 1:
            raise UserError(f"budget {budget.name} ({budget.program_runs} program runs) is too small for {self.name}: "
                            f"it needs at least {4 * per_candidate} with {n_val} validation examples; use a larger "
                            f"--budget, --max-calls, or a smaller --val-size")
        return Plan({"num_candidate_programs": candidates, "max_bootstrapped_demos": self.max_bootstrapped_demos,
                     "max_labeled_demos": self.max_labeled_demos},
                    program_runs=(candidates + 3) * per_candidate)

    def compile(self, plan, ctx, student, trainset, valset):
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=ctx.metric, num_candidate_programs=plan.params["num_candidate_programs"],
            max_bootstrapped_demos=self.max_bootstrapped_demos, max_labeled_demos=self.max_labeled_demos,
            num_threads=ctx.threads, max_errors=tolerated_errors(trainset, valset))
        return optimizer.compile(student, trainset=trainset, valset=valset)
