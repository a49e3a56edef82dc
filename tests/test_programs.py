import textwrap

import dspy
import pytest

import programs
from data.splits import SplitSizes
from programs.researcher_writer import ResearcherWriter
from retrieval import BM25Index
from runtime import UserError


def test_unknown_program_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown program 'nope': choose one of hallucination, researcher_writer"):
        programs.resolve("nope")


def test_researcher_writer_spec_loads_its_data_and_builds(hotpot_sample, isolated_cache):
    spec = programs.resolve("researcher_writer")
    splits = spec.load_splits(0, SplitSizes(train=4, dev=2, test=2))
    assert len(splits.test) == 2 and splits.fingerprints["test"]
    program = spec.build()
    names = [n for n, _ in program.named_predictors()]
    assert names == ["researcher.hop", "writer.write"]
    assert set(spec.metrics) == {"f1", "em", "recall", "fresh_queries"}


def test_researcher_writer_plain_option_starts_every_step_from_dspys_defaults(hotpot_sample, isolated_cache):
    class Bare(dspy.Signature):  # what DSPy gives a signature with no docstring and no descriptions
        question: str = dspy.InputField()
        passages: list[str] = dspy.InputField()
        answer: str = dspy.OutputField()

    spec = programs.resolve("researcher_writer")
    plain, seeded = spec.make({"plain": True}), spec.make()
    for (name, p), (_, s) in zip(plain.named_predictors(), seeded.named_predictors()):
        assert p.signature.instructions.startswith("Given the fields `question`, `passages`, produce the fields")
        assert p.signature.instructions != s.signature.instructions, name
        assert list(p.signature.fields) == list(s.signature.fields)
    write = dict(plain.named_predictors())["writer.write"].signature
    assert write.instructions == Bare.instructions
    assert [f.json_schema_extra["desc"] for f in write.fields.values()] == \
        [f.json_schema_extra["desc"] for f in Bare.fields.values()]


def test_researcher_writer_searches_again_and_the_writer_reads_every_passage(dummy_lm):
    index = BM25Index(["p1", "p2", "p3"], ["Paris is the capital of France.", "France is in Europe.",
                                            "Berlin is the capital of Germany."])
    lm = dummy_lm([{"next_query": "Europe France"}, {"answer": "Paris"}])
    program = ResearcherWriter(index, hops=2, k=1)
    pred = program(question="What is the capital of France?")
    assert pred.answer == "Paris"
    assert pred.queries == ["What is the capital of France?", "Europe France"]
    assert pred.retrieved_ids == ["p1", "p2"]
    assert len(lm.history) == 2, "the last hop writes no query"
    writer_prompt = lm.history[-1]["messages"][-1]["content"]
    assert "Paris is the capital" in writer_prompt and "France is in Europe." in writer_prompt


def test_a_follow_up_query_that_finds_the_same_passage_still_brings_a_new_one(dummy_lm):
    index = BM25Index(["p1", "p2", "p3"], ["Paris is the capital of France.", "Paris is a city in France.",
                                            "Berlin is the capital of Germany."])
    dummy_lm([{"next_query": "capital of France"}, {"answer": "Paris"}])
    pred = ResearcherWriter(index, hops=2, k=1)(question="What is the capital of France?")
    assert len(pred.retrieved_ids) == 2 and len(set(pred.retrieved_ids)) == 2


def test_user_program_from_a_file(tmp_path):
    path = tmp_path / "my_prog.py"
    path.write_text(textwrap.dedent('''
        import dspy

        class Echo(dspy.Module):
            """Echo the question."""
            def __init__(self):
                super().__init__()
                self.p = dspy.Predict("question -> answer")
            def forward(self, question):
                return self.p(question=question)

        def load_examples():
            return [dspy.Example(question=f"q{i}", answer=f"a{i}").with_inputs("question") for i in range(20)]

        def metric(example, prediction, trace=None):
            return float(prediction.answer == example.answer)
    '''))
    spec = programs.resolve(f"{path}:Echo")
    splits = spec.load_splits(1, SplitSizes(train=4, dev=2, test=2))
    assert len(splits.train) == 4 and splits.test[0].id.startswith(f"{path}:Echo-")
    assert isinstance(spec.build(), dspy.Module)
    assert spec.metrics == {"score": spec.metric}


def test_user_program_without_metric_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("import dspy\nclass P(dspy.Module):\n    pass\n")
    with pytest.raises(UserError, match="defines P but not load_examples and metric"):
        programs.resolve(f"{path}:P")


def test_missing_user_file_and_attribute(tmp_path):
    with pytest.raises(UserError, match="no program file"):
        programs.resolve(f"{tmp_path}/none.py:X")
    (tmp_path / "empty.py").write_text("")
    with pytest.raises(UserError, match="has no 'X'"):
        programs.resolve(f"{tmp_path}/empty.py:X")
