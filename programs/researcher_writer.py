"""researcher_writer: a two-agent multi-hop QA program over a Wikipedia paragraph corpus (HotPotQA).

The Researcher agent searches over N hops: its first search is the question itself; after reading a hop's
passages it writes the query for the fact still missing (a multi-hop question needs a second paragraph that the
question alone rarely retrieves). The Writer agent answers from the passages the Researcher gathered.

Cost shaped the design (2 CPU cores, ~97 prompt tokens/s but only ~18 output tokens/s with the embedded model):
generated tokens are five times dearer than read ones, so the agents write only what the next step needs (a
query, a short answer), the Writer reads the passages rather than notes the Researcher would have to write, and
the last hop writes no query nobody would use. Instructions come before the per-example input so the server's
prefix cache serves them. Two LM calls per question with 2 hops.
"""

from __future__ import annotations

import dspy

from programs.agents import Agent
from retrieval import BM25Index


class ResearchHop(dspy.Signature):
    """You are the researcher of a two-agent team answering a question that needs facts from two Wikipedia
    paragraphs. You searched and read the passages below. Write the search query for the paragraph still
    missing: name the entity the question or the passages point to (a person, work, place or organisation)
    and the fact the question needs about it. Do not repeat the question."""

    question: str = dspy.InputField()
    passages: list[str] = dspy.InputField(desc="passages found so far")
    # A default makes a reply that stops early usable: the hop then searches with the question again.
    next_query: str = dspy.OutputField(desc="a few words naming the entity and fact to look up next", default="")


class WriteAnswer(dspy.Signature):
    """You are the writer of a two-agent team. Using only the passages the researcher found, answer the
    question with the shortest possible span copied from them: a name, date, number, or yes/no."""

    question: str = dspy.InputField()
    passages: list[str] = dspy.InputField(desc="the researcher's passages")
    answer: str = dspy.OutputField(desc="a few words at most")


class Researcher(Agent):
    """Agent 1: search with the question, read, search again for what is missing."""

    def __init__(self, retriever: BM25Index | None, hops: int = 2, k: int = 3):
        super().__init__()
        self.retriever, self.hops, self.k = retriever, hops, k
        # Output cap: a 0.5B model sometimes repeats itself until the limit, at ~18 tokens/s on 2 cores.
        self.hop = dspy.Predict(ResearchHop, max_tokens=48)

    def forward(self, question: str):
        query, queries, found = question, [], []
        for hop in range(self.hops):
            queries.append(query)
            seen = {p.id for p in found}
            # k new passages per hop: a follow-up query that finds the same paragraphs again adds nothing.
            found += [p for p in self.retriever.search(query, self.k + len(seen)) if p.id not in seen][: self.k]
            if hop < self.hops - 1:  # the last hop's passages go to the writer; no query is needed after them
                step = self.hop(question=question, passages=[p.text for p in found])
                query = (step.next_query or "").strip() or question
        return dspy.Prediction(passages=[p.text for p in found], queries=queries, retrieved_ids=[p.id for p in found])


class Writer(Agent):
    """Agent 2: answer from the researcher's passages."""

    def __init__(self):
        super().__init__()
        self.write = dspy.Predict(WriteAnswer, max_tokens=32)

    def forward(self, question: str, passages: list[str]):
        return self.write(question=question, passages=passages)


class ResearcherWriter(dspy.Module):
    """Answer a multi-hop question: the Researcher gathers Wikipedia passages over two searches, then the Writer
    answers with the shortest span from them."""

    def __init__(self, retriever: BM25Index | None = None, hops: int = 2, k: int = 3):
        super().__init__()
        self.researcher = Researcher(retriever, hops=hops, k=k)
        self.writer = Writer()

    def forward(self, question: str):
        research = self.researcher(question=question)
        written = self.writer(question=question, passages=research.passages)
        return dspy.Prediction(answer=written.answer, queries=research.queries,
                               retrieved_ids=research.retrieved_ids, passages=research.passages)


# --- Registry entry: the program with its data and metrics ---------------------------------------------------

import functools  # noqa: E402
import os  # noqa: E402

from data import hotpotqa  # noqa: E402
from data.splits import SplitSizes, make_splits  # noqa: E402
from metrics.hotpotqa import PER_EXAMPLE, answer_f1, answer_f1_feedback  # noqa: E402
from programs.spec import ProgramSpec  # noqa: E402


@functools.cache
def _task(data_file: str | None):
    data = hotpotqa.load(data_file)
    return data, BM25Index(data.corpus_ids, data.corpus_texts)


def _data_file() -> str | None:
    """A JSONL in HaluEval-QA format replaces the benchmark (tests use a small fixture this way)."""
    return os.environ.get("LMCOMPILE_HOTPOTQA_FILE") or None


def build(hops: int = 2, k: int = 3, plain: bool = False) -> ResearcherWriter:
    """`plain=True`: every step starts from DSPy's default instruction ("Given the fields `question`, `passages`,
    produce the fields `answer`.") and field descriptions, the program a user writes before compiling. Issue 5
    measured such a researcher copying the question into the follow-up query in 93 of 100 hops."""
    program = ResearcherWriter(_task(_data_file())[1], hops=hops, k=k)
    if plain:
        for _, predictor in program.named_predictors():
            sig = predictor.signature
            for name in [*sig.input_fields, *sig.output_fields]:  # DSPy's default field description, too
                sig = sig.with_updated_fields(name, desc=f"${{{name}}}")
            predictor.signature = sig.with_instructions(
                f"Given the fields {', '.join(f'`{n}`' for n in sig.input_fields)}, "
                f"produce the fields {', '.join(f'`{n}`' for n in sig.output_fields)}.")
    return program


def load_splits(seed: int, sizes: SplitSizes):
    data, _ = _task(_data_file())
    return make_splits(data.examples, seed=seed, sizes=sizes, source=data.fingerprint)


SPEC = ProgramSpec(
    name="researcher_writer",
    description="Two-agent multi-hop QA on HotPotQA: a Researcher (BM25 hops, a follow-up query) and a Writer "
                "(a short answer)",
    build=build,
    load_splits=load_splits,
    metric=answer_f1,
    metrics=PER_EXAMPLE,
    feedback_metric=answer_f1_feedback,
    cost_hint={"lm_calls": 2, "prompt_tokens": 456, "completion_tokens": 22, "seconds": 6},
)
