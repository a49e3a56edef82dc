import pytest

from metrics import exact_match, f1, gold_recall, mean_ci, normalize_answer, paired_difference_ci
from metrics.hotpotqa import answer_f1_feedback


def test_normalize_drops_case_punctuation_and_articles():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match_after_normalization():
    assert exact_match("the Beatles", "Beatles") == 1.0
    assert exact_match("Beatles band", "Beatles") == 0.0


def test_f1_partial_overlap():
    # pred tokens {bankers, life, fieldhouse, arena}, gold {bankers, life, fieldhouse}: P=3/4, R=1
    assert f1("Bankers Life Fieldhouse arena", "Bankers Life Fieldhouse") == pytest.approx(2 * 0.75 / 1.75)


def test_f1_yes_no_needs_the_exact_word():
    assert f1("yes they are", "yes") == 0.0
    assert f1("Yes.", "yes") == 1.0
    assert f1("no", "yes") == 0.0


def test_f1_no_overlap_is_zero():
    assert f1("Paris", "Rome") == 0.0


def test_gold_recall_counts_each_gold_paragraph_once():
    assert gold_recall(["a", "b", "a"], ["a", "c"]) == 0.5
    assert gold_recall([], ["a"]) == 0.0
    assert gold_recall(["a"], []) == 0.0


def test_mean_ci_brackets_the_mean_and_is_seeded():
    values = [0, 1] * 50
    ci = mean_ci(values, seed=3)
    assert ci["mean"] == 0.5
    assert ci["ci_low"] < 0.5 < ci["ci_high"]
    assert 0.35 < ci["ci_low"] and ci["ci_high"] < 0.65
    assert mean_ci(values, seed=3) == ci


def test_mean_ci_of_constant_scores_has_zero_width():
    assert mean_ci([1.0, 1.0, 1.0]) == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0}


def test_paired_difference_is_b_minus_a():
    d = paired_difference_ci([0, 0, 1, 1], [1, 1, 1, 1])
    assert d["mean"] == 0.5


def test_paired_difference_counts_the_examples_that_moved():
    d = paired_difference_ci([0.0, 1.0, 0.5, 0.2], [1.0, 0.0, 0.5, 0.7])
    assert (d["better"], d["worse"]) == (2, 1)


def test_feedback_metric_names_the_failing_stage():
    import dspy

    ex = dspy.Example(question="q", answer="Paris", gold_ids=["p1", "p2"])
    missed = answer_f1_feedback(ex, dspy.Prediction(answer="Rome", retrieved_ids=["x"]))
    assert missed.score == 0.0 and "found none of the supporting paragraphs" in missed.feedback
    misread = answer_f1_feedback(ex, dspy.Prediction(answer="Rome", retrieved_ids=["p1", "p2"]))
    assert "all supporting paragraphs were retrieved" in misread.feedback
    right = answer_f1_feedback(ex, dspy.Prediction(answer="Paris", retrieved_ids=[]))
    assert right.score == 1.0


def test_fresh_queries_counts_follow_ups_that_are_not_the_question_again():
    import dspy

    from metrics.hotpotqa import fresh_queries

    ex = dspy.Example(question="Who directed Alien?", answer="Ridley Scott")
    copied = dspy.Prediction(queries=["Who directed Alien?", "who directed  alien"])  # case and spacing aside
    fresh = dspy.Prediction(queries=["Who directed Alien?", "Ridley Scott birth date"])
    assert fresh_queries(ex, copied) == 0.0 and fresh_queries(ex, fresh) == 1.0
    assert fresh_queries(ex, dspy.Prediction(queries=["Who directed Alien?"])) == 1.0  # one hop: nothing to copy


def test_feedback_says_what_the_writer_did_with_the_evidence_in_hand():
    import dspy

    ex = dspy.Example(question="q", answer="Ridley Scott", gold_ids=["p1", "p2"])

    def said(answer, passages=("Alien was directed by Ridley Scott in 1979.",)):
        pred = dspy.Prediction(answer=answer, retrieved_ids=["p1", "p2"], passages=list(passages))
        return answer_f1_feedback(ex, pred).feedback

    assert "the span alone" in said("Alien was directed by Ridley Scott")
    assert "the whole span" in said("Scott")
    assert "another fact from them" in said("1979")
    assert "not written as such in the passages" in said("1979", passages=["Alien premiered in 1979."])
    assert "name, date, number, or yes/no" not in said("1979")
    assert "every other word lowers it" in said("Scott")  # what the metric counts, for every writer case
