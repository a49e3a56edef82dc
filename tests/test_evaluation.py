import dspy
import pytest

from evaluation import evaluate
from runtime import UserError


class QA(dspy.Module):
    def __init__(self):
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, question):
        return self.answer(question=question)


def exact(example, prediction, trace=None):
    return float(prediction.answer == example.answer)


EXAMPLES = [dspy.Example(id=f"q{i}", question=f"question {i}?", answer="yes").with_inputs("question")
            for i in range(4)]


def test_evaluate_scores_counts_calls_and_keeps_traces(dummy_lm):
    dummy_lm([{"answer": "yes"}, {"answer": "no"}, {"answer": "yes"}, {"answer": "yes"}])
    run = evaluate(QA(), EXAMPLES, {"exact": exact}, progress=False)
    summary = run.summary()
    assert summary["n"] == 4 and summary["metrics"]["exact"]["mean"] == 0.75
    assert summary["lm_calls"] == 4 and summary["errors"] == 0
    row = run.rows()[1]
    assert row["outputs"]["answer"] == "no" and row["scores"] == {"exact": 0.0}
    assert row["trace"][0]["predictor"] == "answer"
    assert row["trace"][0]["inputs"] == {"question": "question 1?"}
    assert 0.0 <= summary["overhead_share"] <= 1.0


class Garbage(dspy.LM):
    """An LM that answers, but never in the requested format."""

    def __init__(self):
        super().__init__("dummy/garbage", cache=False)

    def forward(self, prompt=None, messages=None, **kwargs):
        raise AssertionError("not used")

    def __call__(self, prompt=None, messages=None, **kwargs):
        return ["I am a teapot."]


def test_unparseable_replies_score_zero_and_are_counted():
    with dspy.context(lm=Garbage(), adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        run = evaluate(QA(), EXAMPLES[:2], {"exact": exact}, progress=False)
    assert run.summary()["errors"] == 2
    assert run.summary()["metrics"]["exact"]["mean"] == 0.0
    assert "AdapterParseError" in run.rows()[0]["error"]


def test_too_many_failures_abort_with_the_first_error():
    with dspy.context(lm=Garbage(), adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        with pytest.raises(UserError, match=r"3 of 3 examples failed \(first: AdapterParseError.*raise --max-errors"):
            evaluate(QA(), EXAMPLES, {"exact": exact}, progress=False, max_errors=2)
        with pytest.raises(UserError, match=r"5 of 5 examples failed .*check --model$"):
            evaluate(QA(), EXAMPLES * 2, {"exact": exact}, progress=False)


def test_threads_give_the_same_scores(dummy_lm):
    dummy_lm({f"question {i}?": {"answer": "yes" if i % 2 else "no"} for i in range(4)})
    run = evaluate(QA(), EXAMPLES, {"exact": exact}, progress=False, threads=2)
    assert [r.scores["exact"] for r in run.examples] == [0.0, 1.0, 0.0, 1.0]
    assert run.summary()["lm_calls"] == 4


class Down(dspy.LM):
    """An endpoint that has gone away: every call raises a connection error."""

    def __init__(self):
        super().__init__("dummy/down", cache=False, num_retries=0)
        self.calls = 0

    def forward(self, prompt=None, messages=None, **kwargs):
        self.calls += 1
        raise ConnectionError("connection refused")


def test_an_lm_outage_stops_the_run_instead_of_scoring_zeros():
    from lm.outage import LMOutage, OutageGuard

    down = Down()
    with dspy.context(lm=down, callbacks=[OutageGuard(limit=3)]):
        with pytest.raises(LMOutage, match="3 calls failed in a row; last: ConnectionError: connection refused"):
            evaluate(QA(), EXAMPLES * 3, {"exact": exact}, progress=False)
    assert down.calls == 3


def test_trial_progress_compares_a_score_only_with_scores_on_as_many_examples(capsys):
    from types import SimpleNamespace

    from tracking.trials import TrialLogger, plot_history

    logger = TrialLogger("no-run", full_size=50, start_step=10)  # steps <= 10 are not logged to MLflow
    for call, (score, size) in enumerate([(0.44, 24), (0.585, 8), (0.30, 8), (0.40, 24)]):
        logger.on_evaluate_start(call, None, {"devset": [None] * size})
        logger.on_evaluate_end(call, SimpleNamespace(score=100 * score))
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].endswith("trial 4: 0.400 on 24 examples; best so far on 24 0.440")
    fig = plot_history(logger.history, baseline=0.4, compiled=0.45, title="t")
    best = next(line for line in fig.axes[0].lines if line.get_label().startswith("best so far"))
    assert best.get_label() == "best so far on 24 examples" and list(best.get_ydata()) == [0.44, 0.44]
