"""hallucination: given a question, the knowledge and an answer, is the answer hallucinated?

The task of Datadog's prompt-optimization example, on HaluEval's QA set (balanced labels). One LM call per
example with a one-word output, so instruction optimizers can afford many candidates. Summary evaluators:
precision, recall and accuracy on the "hallucinated" class; `compute_score` folds them into one number.
"""

from __future__ import annotations

import functools
import os
import re

import dspy

from data import hallucination
from data.splits import make_splits
from metrics import classification
from programs.spec import ProgramSpec


class DetectHallucination(dspy.Signature):
    """Decide whether the answer to the question is hallucinated: not supported by the knowledge, or contradicted
    by it."""

    question: str = dspy.InputField()
    knowledge: str = dspy.InputField(desc="facts known to be true")
    answer: str = dspy.InputField(desc="the answer to check")
    # Text, not bool: the 0.5B model often answers a bool field with the format note DSPy puts there, which
    # fails to parse; a yes/no word is read leniently below.
    verdict: str = dspy.OutputField(desc="yes if the answer is hallucinated, no if it is supported")


# A verdict word and what it says about "hallucinated". Small models often answer with the instruction's own
# words instead of yes/no (the 0.5B model: "supported" / "not supported by the knowledge" on 38 of 40 dev rows).
VERDICT_WORDS = {"yes": True, "true": True, "hallucinated": True, "unsupported": True, "contradicted": True,
                 "no": False, "false": False, "supported": False, "consistent": False}


def read_verdict(text: str) -> bool | None:
    """The first verdict word, negated by a "not" just before it ("not supported" is a yes)."""
    words = re.findall(r"[a-z]+", (text or "").lower())
    for i, word in enumerate(words):
        if word in VERDICT_WORDS:
            negated = i > 0 and words[i - 1] == "not" and word not in ("yes", "no", "true", "false")
            return VERDICT_WORDS[word] != negated
    return None


class HallucinationDetector(dspy.Module):
    """Hallucination detection: given a question, knowledge known to be true and an answer to the question, say
    whether the answer is hallucinated (yes) or supported by the knowledge (no)."""

    def __init__(self):
        super().__init__()
        self.detect = dspy.Predict(DetectHallucination, max_tokens=16)

    def forward(self, question: str, knowledge: str, answer: str):
        out = self.detect(question=question, knowledge=knowledge, answer=answer)
        return dspy.Prediction(hallucinated=read_verdict(out.verdict), verdict=out.verdict)


@functools.cache
def _data(data_file: str | None):
    return hallucination.load(data_file)


def load_splits(seed, sizes):
    examples, source = _data(os.environ.get("LMCOMPILE_HOTPOTQA_FILE") or None)
    return make_splits(examples, seed=seed, sizes=sizes, source="hallucination:" + source)


SUMMARY_EVALUATORS = {
    "precision": lambda rows: classification.precision(rows, "hallucinated"),
    "recall": lambda rows: classification.recall(rows, "hallucinated"),
    "accuracy": lambda rows: classification.accuracy(rows, "hallucinated"),
}


def compute_score(summary: dict) -> float:
    """Accuracy and the F1 of the hallucinated class, equally weighted: a detector that says "yes" to everything
    gets recall 1.0 but is caught by precision and accuracy."""
    p, r = summary["precision"], summary["recall"]
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return 0.5 * summary["accuracy"] + 0.5 * f1


SPEC = ProgramSpec(
    name="hallucination",
    description="Hallucination detection on HaluEval QA: is the answer supported by the knowledge?",
    build=HallucinationDetector,
    load_splits=load_splits,
    metric=classification.label_accuracy("hallucinated"),
    metrics={"accuracy": classification.label_accuracy("hallucinated")},
    cost_hint={"lm_calls": 1, "prompt_tokens": 330, "completion_tokens": 10, "seconds": 3},
    summary_evaluators=SUMMARY_EVALUATORS,
    compute_score=compute_score,
)
