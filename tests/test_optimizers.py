from dataclasses import replace

import pytest

import optimizers
from optimizers.budget import PRESETS
from runtime import UserError


def test_registry_lists_the_optimizers_and_rejects_unknown_names():
    assert {"bootstrap", "bootstrap-rs", "mipro", "mipro-instructions", "gepa"} <= set(optimizers.REGISTRY)
    with pytest.raises(UserError, match="unknown optimizer 'miprov3': choose one of bootstrap"):
        optimizers.get("miprov3")
    with pytest.raises(UserError, match="unknown budget 'huge'"):
        optimizers.get_budget("huge")


@pytest.mark.parametrize("name", ["bootstrap", "bootstrap-rs", "mipro", "mipro-instructions", "gepa"])
@pytest.mark.parametrize("budget", list(PRESETS))
def test_plans_stay_near_the_budget(name, budget):
    b = PRESETS[budget]
    try:
        plan = optimizers.get(name).plan(b, b.train_size, b.val_size, n_predictors=2)
    except UserError as exc:  # an optimizer that cannot fit says so, before any LM call
        assert "too small" in str(exc) and (name, budget) == ("bootstrap-rs", "light")
        return
    assert plan.program_runs > 0
    # within the cap, allowing the one validation pass some optimizers need before they can start
    assert plan.program_runs <= b.program_runs + 2 * b.val_size, plan


def test_max_calls_replaces_the_run_cap():
    b = PRESETS["medium"].with_max_calls(90, calls_per_run=3)
    assert b.program_runs == 30 and "max_calls=90" in b.name
    with pytest.raises(UserError, match="less than one program run"):
        PRESETS["light"].with_max_calls(2, calls_per_run=3)


@pytest.mark.parametrize("name", ["maspo", "opro", "mipro-instructions", "bootstrap"])
def test_max_calls_counts_the_prompt_models_calls_too(name):
    """The same --max-calls is the same budget for every optimizer: program and prompt-model calls together."""
    b = replace(PRESETS["medium"].with_max_calls(600, calls_per_run=2), val_size=15)
    fitted, plan = optimizers.fit(optimizers.get(name), b, 100, 15, n_predictors=2)
    assert plan.program_runs * 2 + plan.prompt_calls <= 600
    if name in ("maspo", "mipro-instructions"):  # (OPRO steps in 128-run iterations; bootstrap needs only 100)
        assert plan.program_runs * 2 + plan.prompt_calls > 450  # most of it is used
    with pytest.raises(UserError, match="too small for maspo once its prompt-model calls are counted"):
        optimizers.fit(optimizers.get("maspo"), replace(b, max_calls=200), 100, 15, n_predictors=2)


def test_instruction_only_mipro_uses_no_demos():
    plan = optimizers.get("mipro-instructions").plan(PRESETS["light"], 40, 20, 2)
    assert plan.params["max_bootstrapped_demos"] == 0 and plan.params["max_labeled_demos"] == 0


def test_estimate_counts_optimizer_and_evaluation_runs():
    import compile as compile_script
    import programs
    from lm.factory import ModelSpec

    spec = programs.resolve("researcher_writer")
    budget = PRESETS["light"]
    plan = optimizers.get("bootstrap").plan(budget, 40, 20, 2)
    local = compile_script.estimate(plan, spec, budget, 20, ModelSpec("local"))
    assert local["program_runs"] == plan.program_runs + 40
    assert local["lm_calls"] == local["program_runs"] * spec.cost_hint["lm_calls"] and local["money_usd"] == 0.0
    assert local["optimizer_lm_calls"] == plan.program_runs * spec.cost_hint["lm_calls"] + plan.prompt_calls
    bigger = compile_script.estimate(plan, spec, budget, 20, ModelSpec("local-1.5b"))
    assert bigger["wall_s"] == pytest.approx(2.1 * local["wall_s"])  # the packaged 1.5B model is ~2x slower
    hosted = compile_script.estimate(plan, spec, budget, 20, ModelSpec("openai/gpt-4o-mini"))
    assert hosted["money_usd"] > 0 and hosted["wall_s"] is None
    writer_hosted = compile_script.estimate(plan, spec, budget, 20, ModelSpec("local"),
                                            [ModelSpec("openai/gpt-4o-mini")])
    assert writer_hosted["money_usd"] == hosted["money_usd"] and writer_hosted["wall_s"] is None
    both_local = compile_script.estimate(plan, spec, budget, 20, ModelSpec("local"), [ModelSpec("local-1.5b")])
    assert both_local["money_usd"] == 0.0 and both_local["wall_s"] == bigger["wall_s"]


def test_mipro_plans_the_prompt_calls_dspys_grounded_proposer_makes():
    """The plan's prompt calls are what DSPy's proposer does (dataset summary, then per instruction a program
    description, a module description and the instruction), counted on a DummyLM: --max-calls relies on it."""
    import random

    import dspy
    from dspy.propose import GroundedProposer
    from dspy.utils import DummyLM

    import programs
    from evaluation.usage import LMMeter

    student = programs.resolve("researcher_writer").make({})
    train = [dspy.Example(question=f"question {i}?", answer="a").with_inputs("question") for i in range(100)]
    reply = {"observations": "o", "summary": "s", "program_description": "p", "module_description": "m",
             "proposed_instruction": "Answer well.", "reasoning": "r"}
    lm, meter = DummyLM([reply] * 200), LMMeter()
    plan = optimizers.get("mipro-instructions").plan(PRESETS["medium"], len(train), 15, len(student.predictors()))
    with dspy.context(lm=lm, callbacks=[meter]):
        proposer = GroundedProposer(prompt_model=lm, program=student, trainset=train, rng=random.Random(0))
        proposer.propose_instructions_for_program(trainset=train, program=student, demo_candidates=None,
                                                  trial_logs={}, N=plan.params["num_candidates"])
    assert meter.calls == plan.prompt_calls
