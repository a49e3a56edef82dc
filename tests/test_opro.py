"""OPRO's loop with scripted models: the task model is right only under instructions that mention the key
fact; the prompt model proposes such instructions in some samples. OPRO must find and keep them."""

import re

import dspy
import pytest

from optimizers.opro import OPRO, default_labelize
from optimizers.proposals import unusable


class TaskLM(dspy.LM):
    """Answers right only when its instructions contain 'capital city'."""

    def __init__(self):
        super().__init__("scripted/task", cache=False)

    def __call__(self, prompt=None, messages=None, **kwargs):
        right = "capital city" in messages[0]["content"]
        country = re.search(r"capital of (\w+)", messages[-1]["content"]).group(1)
        answer = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Peru": "Lima"}[country] if right else "?"
        return [f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"]


class ProposerLM(dspy.LM):
    """Every third sample is a good instruction; the others are not."""

    def __init__(self):
        super().__init__("scripted/proposer", cache=False)
        self.prompts = []

    def __call__(self, prompt=None, messages=None, **kwargs):
        self.prompts.append(messages[-1]["content"])
        n = kwargs["rollout_id"]
        text = f"Name the capital city of the country ({n})." if n % 3 == 0 else f"Answer briefly, variant {n}."
        return [f"Here is my instruction: [{text}]"]


COUNTRIES = ["France", "Italy", "Spain", "Peru"]
DATA = [dspy.Example(question=f"What is the capital of {c}?", answer=a).with_inputs("question")
        for c, a in zip(COUNTRIES, ["Paris", "Rome", "Madrid", "Lima"])]


def exact(example, prediction, trace=None):
    return float(prediction.answer == example.answer)


class NotesThenAnswer(dspy.Module):
    """Two steps: a writes notes from the question, b answers from the question and the notes."""

    def __init__(self):
        super().__init__()
        self.a = dspy.Predict("question -> notes")
        self.b = dspy.Predict("question, notes -> answer")

    def forward(self, question):
        return self.b(question=question, notes=self.a(question=question).notes)


def test_opro_finds_and_keeps_the_better_instruction():
    proposer = ProposerLM()
    seen = []
    opro = OPRO(exact, prompt_model=proposer, task_model=TaskLM(), candidates_per_step=4, max_iterations=2,
                train_sample=4, on_iteration=seen.append)
    program = opro.compile(dspy.Predict("question -> answer"), trainset=DATA, valset=DATA)
    result = opro.result
    assert result.best_score == 1.0 and "capital city" in result.best_prompt["self"]
    assert "capital city" in program.signature.instructions
    assert result.best_iteration == 1 and result.total_iterations == 2
    assert result.get_score_history()[0] == 0.0 and result.get_score_history()[-1] == 1.0
    assert len(seen) == 3  # the seed, then one step per iteration
    assert "best: training score 1.000" in result.summary()

    # The meta-prompt of iteration 2 lists the trajectory in ascending order of score, best last.
    meta = proposer.prompts[-1]
    scores = [int(s) for s in re.findall(r"score:\n(\d+)", meta)]
    assert scores == sorted(scores) and scores[-1] == 100
    assert "Write a new instruction that is different" in meta
    assert len(re.findall(r"^Exemplar \((success|failure|partial|error), score", meta, re.M)) == 3  # 3 exemplars


def test_stopping_condition_ends_the_loop_early():
    opro = OPRO(exact, prompt_model=ProposerLM(), task_model=TaskLM(), candidates_per_step=3, max_iterations=5,
                train_sample=4, stopping_condition=lambda summary: summary["score"] >= 1.0)
    opro.compile(dspy.Predict("question -> answer"), trainset=DATA)
    assert opro.result.total_iterations == 1


def test_compute_score_folds_the_summary_evaluators():
    seen = []
    opro = OPRO(exact, prompt_model=ProposerLM(), task_model=TaskLM(), candidates_per_step=1, max_iterations=1,
                train_sample=4, summary_evaluators={"n": lambda rows: len(rows)},
                compute_score=lambda summary: summary["score"] + summary["n"], on_iteration=seen.append)
    opro.compile(dspy.Predict("question -> answer"), trainset=DATA)
    assert seen[0].summary["n"] == 4 and seen[0].best_score == 4.0


def test_joint_mode_parses_one_instruction_per_step():
    class Two(dspy.Module):
        def __init__(self):
            super().__init__()
            self.first = dspy.Predict("question -> answer")

        def forward(self, question):
            return self.first(question=question)

    class JointProposer(ProposerLM):
        def __call__(self, prompt=None, messages=None, **kwargs):
            return ["first: [Name the capital city of the country.]"]

    opro = OPRO(exact, prompt_model=JointProposer(), task_model=TaskLM(), candidates_per_step=1, max_iterations=1,
                train_sample=4, mode="joint")
    program = opro.compile(Two(), trainset=DATA)
    assert opro.result.best_score == 1.0
    assert program.first.signature.instructions == "Name the capital city of the country."


def test_labelize_groups():
    assert default_labelize(None, None, 0.0) == "error"
    assert default_labelize(None, dspy.Prediction(), 1.0) == "success"
    assert default_labelize(None, dspy.Prediction(), 0.5) == "partial"
    with pytest.raises(ValueError, match="mode must be"):
        OPRO(exact, mode="both")


def test_the_scoring_sample_is_stratified_for_categorical_labels_only():
    import random

    from optimizers.opro import scoring_sample

    # 90% of one class: a plain sample of 8 would usually hold no positive at all.
    skewed = [dspy.Example(text=str(i), id=f"x{i}", flag=i % 10 == 0).with_inputs("text") for i in range(100)]
    sample = scoring_sample(skewed, 8, random.Random(0))
    assert len(sample) == 8 and sum(ex.flag for ex in sample) == 4
    # Free-form answers (and ids) are not classes: the sample is a plain shuffle.
    qa = [dspy.Example(question=str(i), answer=f"a{i}", id=f"q{i}").with_inputs("question") for i in range(30)]
    shuffled = list(qa)
    random.Random(0).shuffle(shuffled)
    assert scoring_sample(qa, 8, random.Random(0)) == shuffled[:8]


def test_near_copies_are_not_scored_and_ids_are_not_shown():
    class Echo(ProposerLM):
        """Gives back an instruction already scored, with one word changed."""

        def __call__(self, prompt=None, messages=None, **kwargs):
            self.prompts.append(messages[-1]["content"])
            return ["[Given the fields `question`, produce the fields `answers`.]"]

    task = TaskLM()
    proposer = Echo()
    data = [ex.copy(id=f"q{i}") for i, ex in enumerate(DATA)]
    opro = OPRO(exact, prompt_model=proposer, task_model=task, candidates_per_step=3, max_iterations=2,
                train_sample=4)
    opro.compile(dspy.Predict("question -> answer"), trainset=data)
    assert [len(h.candidates) for h in opro.result.history] == [1, 0, 0]  # only the seed was scored
    assert "(no new instruction)" in opro.result.summary()
    assert "expected output:\nanswer: " in proposer.prompts[0] and "id: q" not in proposer.prompts[0]


def test_the_meta_prompt_describes_the_task_with_the_program_docstring():
    class Capitals(dspy.Module):
        """Name the capital city of a country."""

        def __init__(self):
            super().__init__()
            self.answer = dspy.Predict("question -> answer")

        def forward(self, question):
            return self.answer(question=question)

    proposer = ProposerLM()
    OPRO(exact, prompt_model=proposer, task_model=TaskLM(), candidates_per_step=1, max_iterations=1,
         train_sample=4).compile(Capitals(), trainset=DATA)
    assert proposer.prompts[0].startswith("Name the capital city of a country.\n\nYou write the instruction of")
    # The step's instruction is read by that step alone: the proposer is told not to describe the program.
    assert ("You write the instruction of the step 'answer'. It takes question and produces answer. The step reads "
            "only its own instruction and inputs: say what it must do to produce a good answer, not what the whole "
            "program does.") in proposer.prompts[0]


def test_the_seed_is_kept_unless_a_candidate_beats_it_on_validation():
    class ParisLM(dspy.LM):
        """Says Paris under an instruction that mentions it, '?' otherwise: right on France only."""

        def __init__(self):
            super().__init__("scripted/paris", cache=False)

        def __call__(self, prompt=None, messages=None, **kwargs):
            answer = "Paris" if "Paris" in messages[0]["content"] else "?"
            return [f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"]

    class ParisProposer(ProposerLM):
        def __call__(self, prompt=None, messages=None, **kwargs):
            return ["[Whatever the country, answer Paris.]"]

    france = [DATA[0]] * 4
    opro = OPRO(exact, prompt_model=ParisProposer(), task_model=ParisLM(), candidates_per_step=1, max_iterations=1,
                train_sample=4)
    program = opro.compile(dspy.Predict("question -> answer"), trainset=france, valset=DATA[1:])
    # Best on the training sample (1.0 vs 0.0), no better than the seed on validation (0.0 each): not shipped.
    assert [c.val_score for c in opro.result.final_choice] == [0.0, 0.0]
    assert "Paris" not in program.signature.instructions and opro.result.best_iteration == 0


def test_the_meta_prompt_shows_how_often_each_class_is_predicted():
    proposer = ProposerLM()
    two_classes = [DATA[0], DATA[1]] * 2  # answers Paris, Rome: a categorical label
    OPRO(exact, prompt_model=proposer, task_model=TaskLM(), candidates_per_step=1, max_iterations=1,
         train_sample=4, summary_evaluators={"hits": lambda rows: sum(r[2] for r in rows)}).compile(
        dspy.Predict("question -> answer"), trainset=two_classes)
    meta = proposer.prompts[0]
    assert "- hits: 0.00\n- answer: the program output ? 4 times; expected Paris 2 times, Rome 2 times" in meta
    quiet = ProposerLM()
    OPRO(exact, prompt_model=quiet, task_model=TaskLM(), candidates_per_step=1, max_iterations=1, train_sample=4,
         show_summary=False).compile(dspy.Predict("question -> answer"), trainset=two_classes)
    assert "the program output" not in quiet.prompts[0]


def test_a_run_budget_stops_the_loop_before_a_candidate_it_cannot_afford():
    class Distinct(ProposerLM):
        TEXTS = ["Reply with one word.", "Think about geography before answering.", "Give only a city name.",
                 "Mention nothing but the answer.", "Consider the country's history.", "Be brief and exact."]

        def __call__(self, prompt=None, messages=None, **kwargs):
            return [f"[{self.TEXTS[kwargs['rollout_id'] % len(self.TEXTS)]}]"]

    opro = OPRO(exact, prompt_model=Distinct(), task_model=TaskLM(), candidates_per_step=4, max_iterations=10,
                train_sample=4, final_candidates=2, max_program_runs=4 + 3 * 4 + 2 * 2)  # seed, 3, final
    opro.compile(dspy.Predict("question -> answer"), trainset=DATA, valset=DATA[:2])
    scored = sum(len(h.candidates) for h in opro.result.history)  # the seed included
    assert opro.result.stopped == "budget" and scored == 4 and opro.result.total_iterations < 10
    assert opro.runs_spent <= 4 * scored + 3 * 2  # at most 2 finalists and the seed on validation


def test_without_a_finalist_the_budget_keeps_back_one_validation_not_final_candidates():
    class Distinct(ProposerLM):  # none says "capital city": every candidate ties the seed's zero and is dropped
        TEXTS = ["Reply with one word.", "Think about geography before answering.", "Give only a city name.",
                 "Mention nothing but the answer.", "Consider the country's history.", "Be brief and exact."]

        def __call__(self, prompt=None, messages=None, **kwargs):
            return [f"[{self.TEXTS[kwargs['rollout_id'] % len(self.TEXTS)]}]"]

    seed = dspy.Predict("question -> answer")
    seed.signature = seed.signature.with_instructions("Answer.")
    opro = OPRO(exact, prompt_model=Distinct(), task_model=TaskLM(), candidates_per_step=6, max_iterations=1,
                train_sample=4, race=2, final_candidates=2,
                max_program_runs=4 + 4 * 2 + 1 * 2)  # the seed, 4 first rungs, one validation of 2
    opro.compile(seed, trainset=DATA, valset=DATA[:2])
    scored = sum(len(h.candidates) for h in opro.result.history)  # the seed included
    assert scored == 1 + 4 and opro.result.stopped == "budget"  # a reserve of 2 validations affords 3
    assert [c.iteration for c in opro.result.final_choice] == [0]  # the seed stands; its validation is compile.py's
    assert opro.runs_spent <= 4 + 4 * 2 + 2


def test_near_copies_within_one_step_are_scored_once():
    class Twins(ProposerLM):
        def __call__(self, prompt=None, messages=None, **kwargs):
            comma = "," if kwargs["rollout_id"] % 2 else ""
            return [f"[Write the capital city of the country{comma} and nothing else.]"]

    opro = OPRO(exact, prompt_model=Twins(), task_model=TaskLM(), candidates_per_step=4, max_iterations=1,
                train_sample=4)
    opro.compile(dspy.Predict("question -> answer"), trainset=DATA)
    assert len(opro.result.history[1].candidates) == 1


def test_each_sample_of_a_step_ends_with_a_different_style_tip():
    from optimizers.proposals import TIPS

    proposer = ProposerLM()
    OPRO(exact, prompt_model=proposer, task_model=TaskLM(), candidates_per_step=4, max_iterations=1,
         train_sample=4).compile(dspy.Predict("question -> answer"), trainset=DATA)
    tails = [next((t for t in TIPS if t and p.endswith(t)), "") for p in proposer.prompts]
    assert len(proposer.prompts) == 4 and len(set(tails)) == 4
    plain = ProposerLM()
    OPRO(exact, prompt_model=plain, task_model=TaskLM(), candidates_per_step=4, max_iterations=1, train_sample=4,
         tips=False).compile(dspy.Predict("question -> answer"), trainset=DATA)
    assert len(set(plain.prompts)) == 1


def test_the_final_check_validates_each_predictors_best_candidate():
    class TwoSteps(dspy.Module):
        def __init__(self):
            super().__init__()
            self.a = dspy.Predict("question -> answer")
            self.b = dspy.Predict("question -> answer")

        def forward(self, question):
            self.a(question=question)
            return self.b(question=question)

    class Distinct(ProposerLM):
        def __call__(self, prompt=None, messages=None, **kwargs):
            return [f"[Answer in few words, version {kwargs['rollout_id']}.]"]

    opro = OPRO(exact, prompt_model=Distinct(), task_model=TaskLM(), candidates_per_step=2, max_iterations=1,
                train_sample=4, final_candidates=2)
    opro.compile(TwoSteps(), trainset=DATA, valset=DATA[:2])
    # Every candidate ties on training (0.0); the two best overall would both be step a's, scored first.
    assert sorted(c.target for c in opro.result.final_choice) == ["", "a", "b"]  # the seed, a's best, b's best


class KeyedTaskLM(dspy.LM):
    """Right on the countries its instruction's keyword names (the seed instruction has none of the keywords)."""

    def __init__(self, right: dict[str, set]):
        super().__init__("scripted/keyed", cache=False)
        self.right = right

    def __call__(self, prompt=None, messages=None, **kwargs):
        country = re.search(r"capital of (\w+)", messages[-1]["content"]).group(1)
        key = next((k for k in self.right if k in messages[0]["content"]), "seed")
        answer = dict(zip(COUNTRIES, ["Paris", "Rome", "Madrid", "Lima"]))[country]
        return [f"[[ ## answer ## ]]\n{answer if country in self.right[key] else '?'}\n\n[[ ## completed ## ]]"]


class ListProposer(ProposerLM):
    def __init__(self, texts):
        super().__init__()
        self.texts = texts

    def __call__(self, prompt=None, messages=None, **kwargs):
        return [f"[{self.texts[kwargs['rollout_id'] % len(self.texts)]}]"]


class RawProposer(ListProposer):
    """Its texts as they are, without the brackets asked for."""

    def __call__(self, prompt=None, messages=None, **kwargs):
        return [self.texts[kwargs["rollout_id"] % len(self.texts)]]


def test_a_proposal_naming_a_field_the_step_lacks_or_only_a_step_name_is_not_scored():
    # What a 1.5B proposer wrote for researcher_writer's plain program (DSPy's default "Given the fields ..."
    # instructions): new output fields the step cannot produce, and the step's own name as the instruction.
    proposer = ListProposer(["Given the fields `question`, produce the fields `answer`, `confidence`.",
                             "self.predict", "Name the capital city of the country."])
    opro = OPRO(exact, prompt_model=proposer, task_model=TaskLM(), candidates_per_step=3, max_iterations=1,
                train_sample=4)
    opro.compile(dspy.Predict("question -> answer"), trainset=DATA)
    scored = [c.instructions["self"] for h in opro.result.history[1:] for c in h.candidates]
    assert scored == ["Name the capital city of the country."]


def test_a_proposal_quoting_a_training_input_is_not_scored():
    # What a 1.5B proposer wrote for researcher_writer's writer: one shown question pasted into the instruction.
    proposer = ListProposer(["Answer the question 'what is the capital of Peru' with the city.",
                             "Name the capital city of the country."])
    opro = OPRO(exact, prompt_model=proposer, task_model=TaskLM(), candidates_per_step=2, max_iterations=1,
                train_sample=4)
    opro.compile(dspy.Predict("question -> answer"), trainset=DATA)
    scored = [c.instructions["self"] for h in opro.result.history[1:] for c in h.candidates]
    assert scored == ["Name the capital city of the country."]
    assert not unusable("Answer with the city, e.g. Lima.", None, inputs=["Lima", "What is the capital of Peru?"])
    # six words of a longer question in a row, restated (what a MASPO writer candidate did)
    question = "What is the first book in the series based on the game developed by the Danish company IO?"
    assert unusable("Return only the series based on the game developed by the Danish company.", None,
                    inputs=[question])
    assert not unusable("Return only the title of the first book, nothing else.", None, inputs=[question])


def test_unusable_reads_backticked_names_as_fields():
    fields = {"question": None, "passages": None, "answer": None}
    assert not unusable("Answer the `question` from the `passages` in a few words.", fields)
    assert unusable("Answer the `question` and give a `confidence`.", fields)
    assert unusable("writer.write", fields) and unusable("Answer.", None)
    assert not unusable("Answer the `question`, giving a `confidence` too.", None)  # no fields given: not checked
    # a reply in the step's format, led by a field name (what label-free MASPO accepted as an instruction)
    assert unusable("answer: Paris", fields) and unusable("passages: 1. Paris is the capital.", fields)
    assert not unusable("Note: answer with the city's name only.", fields)


def test_a_steps_proposal_restating_the_program_description_is_not_scored_in_a_multi_step_program():
    # What a 1.5B proposer gave researcher_writer's researcher: the program's docstring, reworded.
    described = "Answer a geography question: step a notes the country, then step b names its capital city."
    restated = "Answer the geography question: step a notes the country, then step b gives its capital city."
    assert unusable(restated, None, described) and not unusable("Name the capital city.", None, described)

    class BothFieldsLM(dspy.LM):
        def __init__(self):
            super().__init__("scripted/both", cache=False)

        def __call__(self, prompt=None, messages=None, **kwargs):
            return ["[[ ## notes ## ]]\nx\n\n[[ ## answer ## ]]\n?\n\n[[ ## completed ## ]]"]

    def scored(student):
        opro = OPRO(exact, prompt_model=ListProposer([restated, "Name the capital city of the country."]),
                    task_model=BothFieldsLM(), candidates_per_step=2, max_iterations=1, train_sample=4,
                    task_description=described)
        opro.compile(student, trainset=DATA)
        return [text for h in opro.result.history[1:] for c in h.candidates for text in c.instructions.values()
                if text in (restated, "Name the capital city of the country.")]

    assert set(scored(NotesThenAnswer())) == {"Name the capital city of the country."}  # proposed for each step
    # A one-step program's description is a fine instruction for its only step.
    assert set(scored(dspy.Predict("question -> answer"))) == {restated, "Name the capital city of the country."}


def _sample_countries(n=4):
    import random

    from optimizers.opro import scoring_sample
    return [re.search(r"of (\w+)", ex.question).group(1) for ex in scoring_sample(DATA, n, random.Random(0))]


def test_race_rungs_double_up_to_the_whole_sample():
    assert OPRO(exact, race=8).rungs(24) == [8, 16, 24]
    assert OPRO(exact, race=8).rungs(20) == [8, 16, 20]
    assert OPRO(exact, race=8).rungs(8) == [8] and OPRO(exact).rungs(24) == [24]


def test_the_race_drops_candidates_not_ahead_and_scores_the_leader_on_the_whole_sample():
    order = _sample_countries()
    task = KeyedTaskLM({"seed": {order[1], order[3]}, "Keyword-all": set(COUNTRIES), "Keyword-none": set()})
    proposer = ListProposer(["Keyword-none: answer.", "Keyword-all: answer the capital.", "Say Keyword-none."])
    opro = OPRO(exact, prompt_model=proposer, task_model=task, candidates_per_step=3, max_iterations=1,
                train_sample=4, race=2)
    opro._race_order = list  # the sample's own order, for every candidate
    opro.compile(dspy.Predict("question -> answer"), trainset=DATA)
    by_text = {c.instructions["self"]: c for c in opro.result.history[1].candidates}
    lead = by_text["Keyword-all: answer the capital."]
    assert lead.examples == 4 and lead.score == 1.0 and opro.result.best is lead
    # Dropped after two examples, where the seed scored 0.5 and it 0: the seed's 0.5 + (0 - 0.5).
    dropped = by_text["Keyword-none: answer."]
    assert dropped.examples == 2 and dropped.score == pytest.approx(0.0)
    assert opro.runs_spent == 4 + 4 + 2 + 2  # the seed, the leader, two dropped after two examples each


def test_a_candidate_ahead_only_on_the_first_examples_neither_leads_nor_is_a_finalist():
    order = _sample_countries()
    task = KeyedTaskLM({"seed": {order[2], order[3]}, "Keyword-lucky": {order[0], order[1]}})
    proposer = ListProposer(["Keyword-lucky: answer."])
    opro = OPRO(exact, prompt_model=proposer, task_model=task, candidates_per_step=1, max_iterations=1,
                train_sample=4, race=2, final_candidates=1)
    opro._race_order = list
    program = opro.compile(dspy.Predict("question -> answer"), trainset=DATA, valset=DATA)
    lucky = opro.result.history[1].candidates[0]
    assert lucky.examples == 4 and lucky.score == 0.5  # ahead on 2 (1.0 vs 0), even on all 4: no new best
    assert opro.result.best_iteration == 0 and "Keyword" not in program.signature.instructions
    # Not ahead of the seed on the whole sample: no finalist, so nothing is validated.
    assert [c.iteration for c in opro.result.final_choice] == [0] and opro.result.final_choice[0].val_score is None


def test_a_candidate_the_budget_cut_while_ahead_is_still_a_finalist():
    order = _sample_countries()
    task = KeyedTaskLM({"seed": {order[2], order[3]}, "Keyword-good": set(COUNTRIES)})
    opro = OPRO(exact, prompt_model=ListProposer(["Keyword-good: answer."]), task_model=task, candidates_per_step=1,
                max_iterations=1, train_sample=4, race=2, final_candidates=1,
                max_program_runs=4 + 2 + 4)  # the seed, the first rung, one finalist's validation: no second rung
    opro._race_order = list
    program = opro.compile(dspy.Predict("question -> answer"), trainset=DATA, valset=DATA)
    good = opro.result.history[1].candidates[0]
    assert good.examples == 2 and good.cut  # ahead on its first two (1.0 vs 0), then out of budget
    assert opro.result.history[1].best_score == 0.5  # unfinished: it does not become the best during the loop
    assert [c.iteration for c in opro.result.final_choice] == [1, 0] and good.val_score == 1.0
    assert "Keyword-good" in program.signature.instructions


def test_each_candidate_races_on_its_own_order_of_the_sample():
    data = [dspy.Example(question=f"What is the capital of {c}?", answer="?").with_inputs("question")
            for c in COUNTRIES * 4]  # 16 examples; "?" is right whatever the instruction, so every candidate ties
    seen = []

    class Recording(TaskLM):
        def __call__(self, prompt=None, messages=None, **kwargs):
            seen.append((messages[0]["content"], messages[-1]["content"]))
            return super().__call__(prompt, messages, **kwargs)

    proposer = ListProposer(["First way to answer.", "Second way to answer.", "Third way to answer."])
    opro = OPRO(exact, prompt_model=proposer, task_model=Recording(), candidates_per_step=3, max_iterations=1,
                train_sample=16, race=4)
    opro.compile(dspy.Predict("question -> answer"), trainset=data)
    firsts = [[q for system, q in seen if f"{word} way" in system] for word in ("First", "Second", "Third")]
    assert all(len(f) == 4 for f in firsts)  # ties: each dropped after its first 4 examples
    assert len({tuple(f) for f in firsts}) > 1  # not the same 4 for every candidate


def test_a_later_steps_exemplars_show_what_it_received_and_its_candidates_replay_the_steps_before_it():
    class NotesLM(dspy.LM):
        """Step a writes notes naming the country; step b answers from them (wrongly: the seed is not enough)."""

        def __init__(self):
            super().__init__("scripted/notes", cache=False)
            self.calls = {"a": 0, "b": 0}

        def __call__(self, prompt=None, messages=None, **kwargs):
            user = messages[-1]["content"]
            country = re.search(r"capital of (\w+)", user).group(1)
            if "NOTE-" in user:  # step b: the notes are among its inputs
                self.calls["b"] += 1
                return ["[[ ## answer ## ]]\n?\n\n[[ ## completed ## ]]"]
            self.calls["a"] += 1
            return [f"[[ ## notes ## ]]\nNOTE-{country}\n\n[[ ## completed ## ]]"]

    proposer, task = ProposerLM(), NotesLM()
    opro = OPRO(exact, prompt_model=proposer, task_model=task, candidates_per_step=1, max_iterations=1,
                train_sample=4, exemplars=2)
    opro.compile(NotesThenAnswer(), trainset=DATA)
    for_a, for_b = proposer.prompts[0], proposer.prompts[1]
    assert "step 'a'" in for_a and "received" not in for_a  # step a reads only the question
    assert re.search(r"step 'b' received:\nnotes: NOTE-(\w+)\nprogram output:\nanswer: \?", for_b)
    assert "step 'b' wrote" not in for_b  # what it wrote is the program's output, shown once
    # Step b's candidate replays step a's recorded notes: a is called by the seed's and a's candidate's runs only.
    assert task.calls == {"a": 4 + 4, "b": 4 + 4 + 4}
    assert opro.runs_spent == 4 + 4 + 2  # b's candidate makes half a run's calls per example
    # A budget too small for step a's candidate still affords step b's, which costs half as much.
    proposer = ProposerLM()
    opro = OPRO(exact, prompt_model=proposer, task_model=NotesLM(), candidates_per_step=1, max_iterations=1,
                train_sample=4, exemplars=2, max_program_runs=4 + 2)
    opro.compile(NotesThenAnswer(), trainset=DATA)
    assert [h.target for h in opro.result.history] == ["", "b"] and opro.runs_spent == 6
    assert opro.result.stopped == "budget"


def test_a_later_step_replays_the_new_best_in_every_rollout_and_thread():
    calls = []  # (step, rollout): the scripted LM's copies for other rollouts share it

    class NotesLM(dspy.LM):
        """Step a writes RIGHT notes only under an instruction saying GOOD; step b answers right from RIGHT notes."""

        def __init__(self, **kwargs):
            super().__init__("scripted/notes", cache=False, **kwargs)

        def __call__(self, prompt=None, messages=None, **kwargs):
            system, user = messages[0]["content"], messages[-1]["content"]
            country = re.search(r"capital of (\w+)", user).group(1)
            rollout = self.kwargs.get("rollout_id")
            if "NOTE-" in user or "RIGHT-" in user:  # step b: the notes are among its inputs
                calls.append(("b", rollout))
                answer = dict(zip(COUNTRIES, ["Paris", "Rome", "Madrid", "Lima"]))[country]
                return [f"[[ ## answer ## ]]\n{answer if 'RIGHT-' in user else '?'}\n\n[[ ## completed ## ]]"]
            calls.append(("a", rollout))
            notes = "RIGHT" if "GOOD" in system else "NOTE"
            return [f"[[ ## notes ## ]]\n{notes}-{country}\n\n[[ ## completed ## ]]"]

    # Rollout 1 proposes for step a, rollout 2 for step b.
    proposer = ListProposer(["Answer from the notes, plainly.", "Write GOOD notes naming the country."])
    opro = OPRO(exact, prompt_model=proposer, task_model=NotesLM(), candidates_per_step=1, max_iterations=1,
                train_sample=4, jobs=2, runs_per_record=2)
    opro.compile(NotesThenAnswer(), trainset=DATA)
    a_step, b_step = opro.result.history[1], opro.result.history[2]
    assert a_step.candidates[0].score == 1.0 and a_step.best_score == 1.0  # step a's candidate is the new best
    # b's candidate is right too: it replayed the new best's RIGHT notes (the seed's would leave it at 0)...
    assert b_step.candidates[0].score == 1.0
    # ...and step a ran only for the seed and its own candidate: 4 examples x 2 rollouts each.
    assert sum(step == "a" for step, _ in calls) == 2 * 4 * 2
    assert {rollout for step, rollout in calls} == {None, 1}


def test_the_proposer_counts_the_samples_it_drops_by_reason():
    from optimizers.proposals import Proposer

    lm = ListProposer(["Name the city.", "self.predict", "name  the city.",
                       "Answer the `question` with a `confidence`.",
                       "Answer the question 'what is the capital of Peru' with the city."])
    proposer = Proposer(lm)
    got = proposer.instructions("Write an instruction.", 5, exclude=["Answer."], fields={"question": 0, "answer": 0},
                                inputs=["what is the capital of Peru"])
    assert len(got) == 1 and got[0].lower().startswith("name")  # the other is its near copy
    assert proposer.dropped == {"one word": 1, "a near copy": 1, "names a field the step lacks": 1,
                                "quotes what it was shown": 1}


def test_a_reply_without_brackets_is_read_where_it_gives_the_instruction_plainly():
    from optimizers.proposals import PLAIN_WORDS, Proposer, proposed

    # A bracketed span as asked, then replies as a 1.5B proposer wrote them for researcher_writer's writer
    # (bench/proposal_quality.py), without the brackets.
    assert proposed("Note: [Answer with the shortest span.] and more") == "Answer with the shortest span."
    assert proposed('The new sentence is: "Use the passage that names both entities."') == \
        "Use the passage that names both entities."
    assert proposed("New instruction: Answer with the shortest span\nfrom the given passages.") == \
        "Answer with the shortest span from the given passages."
    assert proposed("[Answer with a name, a date or yes/no,\nnothing else.") == \
        "Answer with a name, a date or yes/no, nothing else."  # a bracket never closed
    assert proposed('"""Only the answer is returned."""') == "Only the answer is returned."
    assert proposed(" ".join(["Only the answer is returned."] * (PLAIN_WORDS // 4))) == ""  # a ramble
    assert proposed("Sure! Here is the new instruction:") == "" and proposed("") == ""
    # What is read still passes the filters: a plain reply quoting a question shown is dropped for that.
    proposer = Proposer(RawProposer(["Name the city.", "Answer the question 'what is the capital of Peru' with the "
                                     "city.", " ".join(["Name it."] * PLAIN_WORDS)]))
    got = proposer.instructions("Write an instruction.", 3, inputs=["what is the capital of Peru"])
    assert got == ["Name the city."]
    assert proposer.dropped == {"quotes what it was shown": 1, "no instruction found": 1}
