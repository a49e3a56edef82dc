"""DSPy's MIPROv2: grounded instruction proposals per predictor + bootstrapped demo sets, searched with Optuna TPE.

Sized by the budget instead of DSPy's `auto` presets (those assume a hosted model; see optimizers/budget.py).
`instructions_only=True` proposes and searches instructions with no demos (0-shot MIPRO), the fair comparison for
instruction optimizers such as OPRO.
"""

from __future__ import annotations

import dspy

from optimizers.base import CompileContext, Plan, Recipe, tolerated_errors
from optimizers.lenient_adapter import LenientProposalAdapter


class Mipro(Recipe):
    name = "mipro"
    summary = "MIPROv2: proposed instructions x bootstrapped demo sets per predictor, searched with Optuna TPE"
    instructions_only = False

    def plan(self, budget, n_train, n_val, n_predictors):
        candidates = 3 if budget.program_runs < 150 else 6 if budget.program_runs < 600 else 12
        demos = 0 if self.instructions_only else 2
        # Each demo set: a few teacher runs. 0-shot MIPROv2 bootstraps them too, to show its proposer (DSPy).
        bootstrap_runs = candidates * (3 if self.instructions_only else 6)
        minibatch = min(10, n_val)
        full_every = 5
        # Trials until the run cap: each trial is a minibatch, every `full_every` trials a full validation pass.
        per_trial = minibatch + n_val / full_every
        trials = max(2, int((budget.program_runs - bootstrap_runs - n_val) // per_trial))
        # DSPy's grounded proposer, per instruction: a program description, a module description, the instruction;
        # before them the dataset summary reads the trainset 10 rows a call (10 calls at most) and summarises.
        prompt_calls = n_predictors * candidates * 3 + min(10, max(1, -(-n_train // 10))) + 1
        return Plan({"num_candidates": candidates, "num_trials": trials, "minibatch_size": minibatch,
                     "minibatch_full_eval_steps": full_every, "max_bootstrapped_demos": demos,
                     "max_labeled_demos": demos},
                    program_runs=int(bootstrap_runs + n_val + trials * per_trial), prompt_calls=prompt_calls)

    def compile(self, plan, ctx: CompileContext, student, trainset, valset):
        p = plan.params
        optimizer = dspy.MIPROv2(
            # Proposals are longer than task outputs: room for an instruction, not for an essay.
            metric=ctx.metric, prompt_model=ctx.prompt_lm.copy(max_tokens=600), task_model=ctx.task_lm, auto=None,
            num_candidates=p["num_candidates"], max_bootstrapped_demos=p["max_bootstrapped_demos"],
            max_labeled_demos=p["max_labeled_demos"], num_threads=ctx.threads, seed=ctx.seed, verbose=False,
            max_errors=tolerated_errors(trainset, valset))
        # A small prompt model's proposals often lack DSPy's field markers: read them leniently (lenient_adapter.py).
        with dspy.context(adapter=LenientProposalAdapter()):
            return optimizer.compile(
                student, trainset=trainset, valset=valset, num_trials=p["num_trials"],
                minibatch=len(valset) > p["minibatch_size"], minibatch_size=p["minibatch_size"],
                minibatch_full_eval_steps=p["minibatch_full_eval_steps"])


class MiproInstructions(Mipro):
    name = "mipro-instructions"
    summary = "MIPROv2 restricted to instructions (no demos): the baseline for instruction optimizers"
    instructions_only = True
