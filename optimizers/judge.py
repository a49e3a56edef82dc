"""Pairwise judgments by the prompt model: which of two outputs of the same step is better?

Used where no metric can decide: MASPO's local and lookahead levels (and its label-free global level), and the
trajectory optimizer's re-run check. The candidate is shown as A or B at random (a small judge favours one
position), identical outputs are ties without a call, and an unusable verdict decides nothing. How far its
verdicts follow the metric: bench/judge_agreement.py (the embedded 1.5B judge: a coin flip on researcher_writer's
answers, under this instruction and under one holding outputs to the goal's form).
"""

from __future__ import annotations

import random
from typing import Literal

import dspy


class CompareOutputs(dspy.Signature):
    """Two versions of one step of a program were given the same input and produced the two outputs below.
    Decide which output better does the step's job and better serves the program's goal. Answer A, B, or tie
    if neither is better."""

    job: str = dspy.InputField(desc="the program's goal and this step's job")
    step_input: str = dspy.InputField()
    output_a: str = dspy.InputField()
    output_b: str = dspy.InputField()
    better: Literal["A", "B", "tie"] = dspy.OutputField()


def judge_job(goal: str, step: str | None = None, signature=None, instruction: str = "") -> str:
    """What the judge is told about the outputs: the program's goal, and the judged step's job (no step: the whole
    program's final answer)."""
    if step is None:
        return f"{goal}\nThe step judged is the whole program: its final answer."
    return (f"{goal}\nThe step judged is '{step}': it takes {', '.join(signature.input_fields)} and produces "
            f"{', '.join(signature.output_fields)}. Its job: {instruction}")


def final_text(outputs: dict) -> str:
    """A program's final answer as the judge reads it: its scalar output fields (not passages or id lists)."""
    return "; ".join(f"{k}: {v}" for k, v in outputs.items() if isinstance(v, (str, int, float, bool))) or "(no output)"


class PairwiseJudge:
    def __init__(self, lm=None, max_tokens: int = 24, instructions: str | None = None):
        self.lm = lm
        signature = CompareOutputs.with_instructions(instructions) if instructions else CompareOutputs
        self.instructions = signature.instructions  # what it judges by, for the record (bench/judge_agreement.py)
        self._predict = dspy.Predict(signature, max_tokens=max_tokens)
        self.calls = 0

    def __call__(self, job: str, step_input: str, current: str, candidate: str, rng: random.Random) -> float:
        """1 if the candidate is judged better, 0 if worse, 0.5 for a tie or an unusable verdict."""
        if current.strip() == candidate.strip():
            return 0.5
        swap = rng.random() < 0.5
        a, b = (candidate, current) if swap else (current, candidate)
        self.calls += 1
        try:
            with dspy.context(lm=self.lm or dspy.settings.lm):
                verdict = self._predict(job=job, step_input=step_input, output_a=a, output_b=b).better
        except Exception:  # noqa: BLE001  (an unparseable verdict decides nothing)
            return 0.5
        if verdict == "tie":
            return 0.5
        return 1.0 if (verdict == "A") == swap else 0.0
