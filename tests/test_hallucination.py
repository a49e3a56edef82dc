import dspy

import programs
from data.splits import SplitSizes
from metrics import classification
from programs.hallucination import compute_score


def test_hallucination_examples_are_balanced_and_never_share_a_question(hotpot_sample, isolated_cache):
    from data import hallucination

    examples, source = hallucination.load(str(hotpot_sample))
    assert len(examples) == 24 and sum(ex.hallucinated for ex in examples) == 12
    assert len({ex.question for ex in examples}) == 24
    assert examples[0].inputs().toDict().keys() == {"question", "knowledge", "answer"}


def test_spec_splits_and_metrics(hotpot_sample, isolated_cache):
    from programs import hallucination

    hallucination._data.cache_clear()
    spec = programs.resolve("hallucination")
    splits = spec.load_splits(0, SplitSizes(train=6, dev=2, test=2))
    ex = splits.test[0]
    right = dspy.Prediction(hallucinated=ex.hallucinated)
    assert spec.metric(ex, right) == 1.0
    assert spec.metric(ex, dspy.Prediction(hallucinated=not ex.hallucinated)) == 0.0
    assert [n for n, _ in spec.build().named_predictors()] == ["detect"]


def test_summary_evaluators_and_compute_score():
    yes, no = dspy.Example(hallucinated=True), dspy.Example(hallucinated=False)
    rows = [(yes, dspy.Prediction(hallucinated=True), 1.0), (yes, dspy.Prediction(hallucinated=False), 0.0),
            (no, dspy.Prediction(hallucinated=True), 0.0), (no, None, 0.0)]  # a failed prediction counts as wrong
    assert classification.confusion(rows, "hallucinated") == {"tp": 1, "fn": 1, "fp": 2, "tn": 0}
    p, r = classification.precision(rows, "hallucinated"), classification.recall(rows, "hallucinated")
    assert (p, r, classification.accuracy(rows, "hallucinated")) == (1 / 3, 0.5, 0.25)
    always_yes = {"precision": 0.5, "recall": 1.0, "accuracy": 0.5}
    assert compute_score(always_yes) < compute_score({"precision": 0.8, "recall": 0.8, "accuracy": 0.8})


def test_verdicts_are_read_leniently_and_garbage_is_no_verdict():
    from programs.hallucination import read_verdict

    assert read_verdict("Yes.") is True and read_verdict("no, it is supported") is False
    assert read_verdict("True") is True and read_verdict("[[ ## verdict ## ]] false") is False
    assert read_verdict("# note: the value you produce must be") is None and read_verdict("") is None
    # The instruction's own words, as the 0.5B model answers.
    assert read_verdict("not supported by the knowledge") is True and read_verdict("supported") is False
    assert read_verdict("Hallucinated.") is True and read_verdict("not hallucinated") is False
    assert read_verdict("contradicted by it") is True
