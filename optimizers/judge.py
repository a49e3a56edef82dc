"""Pairwise judgments by the prompt model: which of two outputs of the same step is better?

Used where no metric can decide: MASPO's local and lookahead levels (and its label-free global level), and the
trajectory optimizer's re-run check. The candidate is shown as A or B at random (a small judge favours one
position), identical outputs are ties without a call, and an unusable verdict decides nothing.
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


class PairwiseJudge:
    def __init__(self, lm=None, max_tokens: int = 24):
        self.lm = lm
        self._predict = dspy.Predict(CompareOutputs, max_tokens=max_tokens)
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
