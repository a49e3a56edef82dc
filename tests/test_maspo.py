"""MASPO's mechanics on a two-agent toy program with a scripted LM whose behaviour depends on the instructions.

The toy: a searcher writes a query, an answerer answers from it. The scripted LM makes three kinds of searcher
instruction: the seed (query "plain", after which the answer is right), a "bait" instruction whose query a judge
prefers locally but after which the answer is wrong (a misalignment), and a "good" instruction.
"""

import re

import dspy
import pytest

from dspy.utils.callback import with_callbacks

from optimizers.maspo import MASPO, Scored
from optimizers.replay import Run, recording


class Search(dspy.Signature):
    """Write a search query for the question."""

    question: str = dspy.InputField()
    query: str = dspy.OutputField()


class Answer(dspy.Signature):
    """Answer the question from the query's results."""

    question: str = dspy.InputField()
    query: str = dspy.InputField()
    answer: str = dspy.OutputField()


class Toy(dspy.Module):
    """A searcher and an answerer."""

    def __init__(self):
        super().__init__()
        self.searcher = dspy.Predict(Search)
        self.answerer = dspy.Predict(Answer)

    def forward(self, question):
        query = self.searcher(question=question).query
        return self.answerer(question=question, query=query)


def _field(text, name):
    match = re.search(rf"\[\[ ## {name} ## \]\]\n(.*?)(?:\n\n|$)", text, re.S)
    return match.group(1).strip() if match else ""


class ToyLM(dspy.LM):
    def __init__(self, proposals):
        super().__init__("scripted/toy", cache=False)
        self.proposals, self.meta_prompts, self.calls = list(proposals), [], {"searcher": 0, "answerer": 0, "judge": 0}

    @with_callbacks  # as dspy.LM's own: MASPO's call meter counts these
    def __call__(self, prompt=None, messages=None, **kwargs):
        system, user = messages[0]["content"], messages[-1]["content"]
        if len(messages) == 1:  # a proposer meta-prompt
            self.meta_prompts.append(user)
            return [f"[{self.proposals.pop(0) if self.proposals else 'Search well.'}]"]
        if "output_a" in system:
            self.calls["judge"] += 1
            a, b = _field(user, "output_a"), _field(user, "output_b")
            # Locally the judge likes fancy queries; downstream it recognises the right answer.
            pick = "A" if ("fancy" in a or "42" in a) else "B" if ("fancy" in b or "42" in b) else "tie"
            return [f"[[ ## better ## ]]\n{pick}\n\n[[ ## completed ## ]]"]
        if "`query`" in system.split("Your output fields are:", 1)[-1].split("All interactions")[0]:
            self.calls["searcher"] += 1
            query = "fancy" if "BAIT" in system else "right" if "GOOD" in system else "plain"
            return [f"[[ ## query ## ]]\n{query}\n\n[[ ## completed ## ]]"]
        self.calls["answerer"] += 1
        answer = "wrong" if _field(user, "query") == "fancy" else "42"
        return [f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"]


def exact(example, prediction, trace=None):
    return float(getattr(prediction, "answer", "") == example.answer)


@pytest.fixture
def examples():
    return [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(4)]


def test_a_local_win_that_hurts_downstream_is_a_misalignment_and_is_not_accepted(examples):
    lm = ToyLM(["BAIT: write fancy queries.", "GOOD: name the entity.", "Answer plainly.", "Answer briefly."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, patience=1)
    program = maspo.compile(Toy(), trainset=examples)
    report = program.optimizer_report
    searcher = report["credit"]["searcher"]
    assert report["agents_order"] == ["searcher", "answerer"]
    assert searcher["misaligned"] == 4 and searcher["misalignment_rate"] > 0
    assert all("BAIT" not in a["instruction"] for a in searcher["accepted"])
    assert "BAIT" not in program.searcher.signature.instructions
    # The searcher's candidates were judged locally and downstream; the bait's answers lost globally.
    bait = next(c for s in report["steps"] if s["agent"] == "searcher" for c in s["candidates"]
                if "BAIT" in c["instruction"])
    assert bait["levels"]["local"] == 1.0 and bait["levels"]["global"] == 0.0 and bait["global_delta"] == -1.0


def test_a_proposed_rule_is_appended_and_an_echoed_instruction_is_dropped(examples):
    seed = Search.instructions
    lm = ToyLM([seed.upper(), "GOOD: name the entity.", "Answer plainly.", "Answer briefly."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, patience=1,
                  proposal="add_rule")
    report = maspo.compile(Toy(), trainset=examples).optimizer_report
    searched = [c["instruction"] for s in report["steps"] if s["agent"] == "searcher" for c in s["candidates"]]
    assert searched == [f"{seed} GOOD: name the entity."]  # the echo (in capitals) was no proposal
    assert "Do not repeat the instruction" in lm.meta_prompts[0]
    with pytest.raises(ValueError, match="add_rule"):
        MASPO(exact, proposal="append")


def test_mixed_proposals_are_one_tip_led_rewrite_and_one_added_rule_per_parent(examples):
    seed = Search.instructions
    lm = ToyLM(["GOOD: name the entity.", "be brief.", "Answer plainly.", "Answer briefly."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, patience=1,
                  proposal="mixed")
    report = maspo.compile(Toy(), trainset=examples).optimizer_report
    searched = [c["instruction"] for s in report["steps"] if s["agent"] == "searcher" for c in s["candidates"]]
    assert searched == ["GOOD: name the entity.", f"{seed} be brief."]  # the rewrite stands alone
    rewrite, rule = lm.meta_prompts[:2]
    assert "Write a new instruction for this agent" in rewrite and "Write ONE short sentence" in rule
    assert rewrite.rstrip().endswith(".") and not rewrite.rstrip().endswith("square brackets.")  # a tip follows
    assert rule.rstrip().endswith("square brackets.")  # no tip: it asks for one sentence


def test_hard_negatives_reach_the_upstream_proposer_on_its_next_turn(examples):
    lm = ToyLM(["BAIT: write fancy queries.", "Also fancy: BAIT again.", "x1 answer", "x2 answer",
                "third searcher", "fourth searcher"])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, rounds=2,
                  patience=1)
    maspo.compile(Toy(), trainset=examples)
    first_answerer = next(i for i, m in enumerate(lm.meta_prompts) if "agent 'answerer'" in m)
    later = [m for m in lm.meta_prompts[first_answerer:] if "agent 'searcher'" in m]  # the searcher's next turn
    assert later and all("made the agents after it do worse" in m and "BAIT: write fancy queries." in m
                         for m in later)


def test_a_downstream_candidate_reruns_only_from_its_agent(examples):
    lm = ToyLM(["Answer plainly, A.", "Answer plainly, B."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4)
    maspo.agents, maspo._seed = ["searcher", "answerer"], {"searcher": "s", "answerer": "a"}
    maspo.current, maspo.partner_version = dict(maspo._seed), 0
    with dspy.context(lm=lm):
        base_runs = maspo._run_all(recording(Toy(), maspo.current), examples)
        before = dict(lm.calls)
        import random

        maspo._evaluate(Toy(), "answerer", "Answer in one word.", examples, base_runs, random.Random(0))
    assert lm.calls["searcher"] == before["searcher"], "the searcher's outputs were replayed from the cache"
    assert lm.calls["answerer"] == before["answerer"] + 4


def test_label_free_mode_judges_the_final_answer_and_never_reads_labels(examples):
    unlabeled = [dspy.Example(question=ex.question).with_inputs("question") for ex in examples]
    lm = ToyLM(["GOOD: name the entity.", "BAIT: write fancy queries.", "Answer plainly.", "Answer briefly."])
    maspo = MASPO(None, prompt_model=lm, task_model=lm, label_free=True, depth=1, branch=2, beam_width=1,
                  minibatch=4)
    program = maspo.compile(Toy(), trainset=unlabeled)
    assert program.optimizer_report["label_free"] is True
    assert all("expected:" not in m for m in lm.meta_prompts)
    assert lm.calls["judge"] > 0


def test_with_max_calls_the_search_goes_on_for_rounds_until_the_calls_are_spent(examples):
    words = ["entity", "date", "place", "person", "title", "number", "author", "team", "river", "album"]
    # distinct rules that never run out: only the budget stops the search
    rules = [f"Name the {a} and the {b} of the {c}." for a in words for b in words for c in words if a != b != c]
    for max_calls in (150, 250):
        lm = ToyLM(rules)
        maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4,
                      rounds=10, max_calls=max_calls)
        report = maspo.compile(Toy(), trainset=examples, valset=examples).optimizer_report
        # the final check's optimized pass was kept in reserve: all of the compile's calls fit in the budget but
        # its seed pass, which in compile.py is the baseline evaluation served by the cache (2 calls a run)
        seed_pass = 2 * len(examples)
        assert report["stopped"] == "budget" and report["lm_calls"] - seed_pass <= max_calls
        assert sum(lm.calls.values()) + len(lm.meta_prompts) - seed_pass <= max_calls
        assert report["lm_calls"] > max_calls // 2, "most of the budget was spent searching"
    assert report["rounds"] >= 2


def _rules():
    words = ["entity", "date", "place", "person", "title", "number", "author", "team", "river", "album"]
    return [f"Name the {a} and the {b} of the {c}." for a in words for b in words for c in words if a != b != c]


def test_equal_calls_gives_the_next_turn_to_the_agent_that_has_spent_the_fewest_calls(examples):
    # The searcher's candidates re-run both agents and are judged; the answerer's re-run one call each. In order,
    # every round gives each one turn; equal_calls gives the cheap answerer more turns, its calls catching up.
    reports, spent_before = {}, []
    for schedule in ("in_order", "equal_calls"):
        maspo = MASPO(exact, prompt_model=ToyLM(_rules()), task_model=ToyLM(_rules()), depth=1, branch=2,
                      beam_width=1, minibatch=4, rounds=10, max_calls=400, schedule=schedule)
        if schedule == "equal_calls":
            turn, credits = maspo._turn, {}

            def recording_turn(student, agent, round_, batch, beams, negatives, credit, rng):
                credits[agent] = credit  # the compile's own dict: its lm_calls grow after each turn
                spent_before.append((agent, {a: c["lm_calls"] + maspo._idle[a] for a, c in credits.items()}))
                return turn(student, agent, round_, batch, beams, negatives, credit, rng)

            maspo._turn = recording_turn
        reports[schedule] = maspo.compile(Toy(), trainset=examples, valset=examples).optimizer_report
    in_order, equal = (reports[s] for s in ("in_order", "equal_calls"))
    assert in_order["turn_order"][:4] == ["searcher", "answerer"] * 2
    assert equal["turn_order"][:2] == ["searcher", "answerer"]  # nothing spent yet: the program's order
    for agent, spent in spent_before[2:]:  # then always the agent that had spent the fewest
        assert spent[agent] == min(spent.values())
    turns = {s: {a: r["credit"][a]["turns"] for a in ("searcher", "answerer")} for s, r in reports.items()}
    assert abs(turns["in_order"]["searcher"] - turns["in_order"]["answerer"]) <= 1
    assert turns["equal_calls"]["answerer"] > turns["equal_calls"]["searcher"] + 1
    calls = {s: {a: r["credit"][a]["lm_calls"] for a in ("searcher", "answerer")} for s, r in reports.items()}
    assert calls["in_order"]["searcher"] > 1.5 * calls["in_order"]["answerer"]  # the upstream agent costs more
    assert calls["equal_calls"]["answerer"] > calls["in_order"]["answerer"]
    for report in reports.values():  # every call but the probe's run (2 calls) is some agent's turn's
        assert not any(c["accepted"] for c in report["credit"].values())  # so no final check ran
        assert sum(c["lm_calls"] for c in report["credit"].values()) == report["lm_calls"] - 2
    # a beam step's cost (a proposal, 2 children) is estimated from the agent's own candidates: 4 examples at 1
    # call each, or at 2 (these rules leave the query as it was: no judgment)
    assert maspo._step_calls("answerer", 1) == 1 + 2 * 4
    assert maspo._step_calls("searcher", 1) == 1 + 2 * 8
    with pytest.raises(ValueError, match="equal_calls"):
        MASPO(exact, schedule="cheapest")


class TitleLM(ToyLM):
    """The answerer answers "43" (the gold answer in the test below) when its instruction names a title, else "42"."""

    @with_callbacks
    def __call__(self, prompt=None, messages=None, **kwargs):
        system = messages[0]["content"]
        if len(messages) > 1 and "output_a" not in system and "Answer the question" in system.split("objective", 1)[-1]:
            self.calls["answerer"] += 1
            title = "title" in system.split("objective", 1)[-1]
            return [f"[[ ## answer ## ]]\n{'43' if title else '42'}\n\n[[ ## completed ## ]]"]
        return super().__call__(prompt, messages, **kwargs)


def test_by_credit_gives_the_calls_to_the_agent_whose_candidates_raised_the_final_score():
    # The searcher's rules never change its queries (no candidate of it moves the answers); an answerer rule that
    # names a title makes every answer right. by_credit shares the calls by that: the searcher keeps a quarter of
    # the answerer's share (or near it) and still takes turns.
    examples = [dspy.Example(question=f"question {i}?", answer="43").with_inputs("question") for i in range(8)]
    reports = {}
    for schedule in ("equal_calls", "by_credit"):
        maspo = MASPO(exact, prompt_model=ToyLM(_rules()), task_model=TitleLM([]), depth=1, branch=2,
                      beam_width=1, minibatch=4, rounds=10, max_calls=600, schedule=schedule)
        reports[schedule] = maspo.compile(Toy(), trainset=examples).optimizer_report
    credit = {s: r["credit"] for s, r in reports.items()}
    assert credit["by_credit"]["answerer"]["accepted"], "a title rule raised the answers"
    assert reports["equal_calls"]["shares"] == {"searcher": 1.0, "answerer": 1.0}
    assert reports["by_credit"]["shares"]["answerer"] == 1.0
    assert reports["by_credit"]["shares"]["searcher"] < 0.3  # the floor, or near it once shrunk toward the mean
    share = {s: c["answerer"]["lm_calls"] / (c["answerer"]["lm_calls"] + c["searcher"]["lm_calls"])
             for s, c in credit.items()}
    assert share["equal_calls"] < 0.6
    assert share["by_credit"] > 0.7
    assert credit["by_credit"]["searcher"]["turns"] >= 2
    for s in ("equal_calls", "by_credit"):
        assert credit[s]["searcher"]["candidates"] and not any(
            c["global_delta"] > 0 for step in reports[s]["steps"] if step["agent"] == "searcher"
            for c in step["candidates"])


def test_by_credit_shares():
    maspo = MASPO(exact, schedule="by_credit")
    maspo.agents = ["a", "b", "c"]
    # a: 12 candidates with a mean rise of 0.05 (the losses count as none); b: 12 that raised nothing, at the same
    # cost; c: nothing scored yet. Shrunk toward the mean over all (0.025) by 4 pseudo-candidates: a 0.04375,
    # b 0.00625, a seventh of a's, so the floor
    maspo._history = {"a": [Scored("x", 0.5, {}, 0.1), Scored("y", 0.4, {}, -0.2)] * 6,
                      "b": [Scored("z", 0.5, {}, 0.0)] * 12, "c": []}
    maspo._candidate_calls = {"a": [8] * 12, "b": [8] * 12, "c": []}
    assert maspo._shares() == {"a": 1.0, "b": 0.25, "c": 1.0}
    maspo._history["a"] = [Scored("y", 0.4, {}, -0.2)]
    assert maspo._shares() == {"a": 1.0, "b": 1.0, "c": 1.0}, "no candidate raised the score: equal shares"
    # One lucky candidate does not take the budget: a's one +0.017 at 30 calls against b's 4 at 0 at 10 calls
    # each. Unshrunk, b would have the floor; shrunk toward the mean (0.0034), b keeps most of a share
    maspo._history = {"a": [Scored("x", 0.5, {}, 0.017)], "b": [Scored("z", 0.5, {}, 0.0)] * 4, "c": []}
    maspo._candidate_calls = {"a": [30], "b": [10] * 4, "c": []}
    shares = maspo._shares()
    assert shares["a"] == 1.0 and shares["c"] == 1.0
    assert shares["b"] == pytest.approx((4 * 0.0034 / 8 / 10) / ((0.017 + 4 * 0.0034) / 5 / 30))
    assert 0.8 < shares["b"] < 0.9


class DryAnswererLM(ToyLM):
    """The answerer's proposer only ever writes one instruction; the searcher's, a new rule every time."""

    @with_callbacks
    def __call__(self, prompt=None, messages=None, **kwargs):
        if len(messages) == 1 and "the agent 'answerer'" in messages[0]["content"]:
            self.meta_prompts.append(messages[0]["content"])
            return ["[Answer plainly.]"]
        return super().__call__(prompt, messages, **kwargs)


def test_equal_calls_does_not_give_every_turn_to_an_agent_that_proposes_nothing_new(examples):
    # A turn with nothing new to score costs the answerer only its proposer's calls: uncharged, it would stay the
    # agent with the fewest calls, take every turn, and the search would stop after two such rounds.
    reports = {}
    for schedule in ("in_order", "equal_calls"):
        lm = DryAnswererLM(_rules())
        maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, rounds=10,
                      max_calls=2000, schedule=schedule)
        reports[schedule] = maspo.compile(Toy(), trainset=examples, valset=examples).optimizer_report
    for report in reports.values():
        assert report["stopped"] == "rounds" and report["rounds"] == 10
        assert report["credit"]["searcher"]["turns"] >= 8 and report["credit"]["searcher"]["candidates"] >= 15


def test_a_candidate_behind_the_current_prompt_is_no_parent_of_the_next_step(examples):
    # The bait wins locally and loses the final answers (combined 0.4): the next step proposes from the seed
    # alone, not from the bait as well. A level candidate ("Search well.": the same queries) stays a parent.
    lm = ToyLM(["BAIT: write fancy queries.", "Search well.", "GOOD: name the entity."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=3, branch=1, beam_width=2, minibatch=4, patience=3,
                  proposal="rewrite", rounds=1)
    maspo.compile(Toy(), trainset=examples)
    searcher = [m for m in lm.meta_prompts if "the agent 'searcher'" in m]
    parents = [m.split('Its current instruction:\n"""', 1)[1].split('"""', 1)[0] for m in searcher]
    assert parents == [Search.instructions, Search.instructions, Search.instructions, "Search well."]
    assert not any("BAIT" in parent for parent in parents)


def test_a_minibatch_is_run_once_per_set_of_prompts_across_turns(examples):
    # Nothing is ever accepted (the answerer's rules tie, the searcher's bait loses): every turn after the first
    # of each agent finds the prompts unchanged and reuses its minibatch's runs.
    lm = ToyLM(["BAIT: write fancy queries.", "Answer plainly."] * 3)
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=2, rounds=3,
                  patience=1)
    whole = []  # (examples, prompts) of every run from the first agent on
    run_all = maspo._run_all

    def counting(program, batch, replays=None):
        if replays is None:
            whole.append((tuple(id(ex) for ex in batch), repr(sorted(maspo.current.items()))))
        return run_all(program, batch, replays)

    maspo._run_all = counting
    report = maspo.compile(Toy(), trainset=examples).optimizer_report
    assert report["rounds"] == 3 and not any(c["accepted"] for c in report["credit"].values())
    assert sum(c["turns"] for c in report["credit"].values()) == 6
    assert len(whole) == len(set(whole)) == 1 + 2  # the probe, then one run per agent's minibatch


def test_with_max_calls_the_search_stops_when_a_round_proposes_nothing_new(examples):
    lm = ToyLM(["GOOD: name the entity.", "Answer plainly."])  # then only "Search well." again and again
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4, rounds=10,
                  max_calls=10_000)
    report = maspo.compile(Toy(), trainset=examples).optimizer_report
    assert report["stopped"] == "no new proposals" and report["rounds"] < 10 and report["lm_calls"] < 10_000


class SplitLM(ToyLM):
    """The judge calls everything a tie; the answer is right for the questions in the set its query is given."""

    def __init__(self, proposals, right: dict[str, set]):
        super().__init__(proposals)
        self.right = right

    @with_callbacks
    def __call__(self, prompt=None, messages=None, **kwargs):
        system, user = messages[0]["content"], messages[-1]["content"]
        fields = system.split("Your output fields are:", 1)[-1].split("All interactions")[0]
        if len(messages) > 1 and "output_a" in system:
            self.calls["judge"] += 1
            return ["[[ ## better ## ]]\ntie\n\n[[ ## completed ## ]]"]
        if len(messages) > 1 and "`answer`" in fields:
            self.calls["answerer"] += 1
            right = _field(user, "question") in self.right.get(_field(user, "query"), set())
            return [f"[[ ## answer ## ]]\n{'42' if right else 'wrong'}\n\n[[ ## completed ## ]]"]
        return ToyLM.__call__.__wrapped__(self, prompt, messages, **kwargs)


class GainLM(SplitLM):
    """The judge calls everything a tie; the GOOD query fixes the final answer of question 0 only."""

    def __init__(self, proposals):
        super().__init__(proposals, {"right": {"question 0?"}})


def test_with_labels_and_validation_a_small_metric_gain_is_accepted_and_checked_on_validation():
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(8)]

    def compile_with(**kwargs):
        lm = GainLM(["GOOD: name the entity.", "Answer plainly."])
        maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=8, **kwargs)
        return maspo, maspo.compile(Toy(), trainset=examples, valset=examples)

    # +1/8 on the minibatch, a tie locally: combined 0.4 * 0.5 + 0.6 * (0.5 + 1/16) = 0.5375 (the answerer's
    # output is the final answer, so lookahead is the metric's comparison). The default gate with a final check is 0.
    maspo, program = compile_with()
    assert maspo.gate == 0.0 and "GOOD" in program.searcher.signature.instructions
    assert maspo.validation == {"seed": 0.0, "optimized": 0.125}
    maspo, program = compile_with(min_gain=0.04)
    assert "GOOD" not in program.searcher.signature.instructions


def test_the_seed_wins_a_tie_on_validation(examples):
    maspo = MASPO(exact)
    maspo.agents, maspo._seed = ["searcher", "answerer"], {"searcher": "s", "answerer": "a"}
    scores = iter([[1.0, 0.0], [0.0, 1.0]])  # the seed's runs, then the optimized prompts'
    maspo._run_all = lambda program, valset: [type("Run", (), {"score": x}) for x in next(scores)]
    chosen = maspo._final_check(Toy(), {"searcher": "s2", "answerer": "a"}, examples[:2])
    assert chosen == {"searcher": "s", "answerer": "a"} and maspo.validation == {"seed": 0.5, "optimized": 0.5}


def test_the_final_check_undoes_a_change_that_spoils_another(examples):
    # Both agents changed; together they score what the seed does, the answerer's change alone is better. Each
    # variant re-runs from the first agent it does not share with the seed's or the optimized prompts' runs.
    from programs.instructions import instructions_of

    maspo = MASPO(exact)
    maspo.agents, maspo._seed = ["searcher", "answerer"], {"searcher": "s", "answerer": "a"}
    score = {("s", "a"): 0.5, ("s2", "a2"): 0.5, ("s", "a2"): 1.0, ("s2", "a"): 0.0}
    replayed = {}

    def run_all(program, valset, replays=None):
        prompts = tuple(instructions_of(program)[a] for a in maspo.agents)
        replayed[prompts] = replays
        return [Run([(a, {"prompts": prompts}, {}) for a in maspo.agents], None, score[prompts]) for _ in valset]

    maspo._run_all = run_all
    chosen = maspo._final_check(Toy(), {"searcher": "s2", "answerer": "a2"}, examples[:2])
    assert chosen == {"searcher": "s", "answerer": "a2"}
    assert maspo.validation == {"seed": 0.5, "optimized": 0.5, "without searcher": 1.0, "without answerer": 0.0}
    # both variants replay the searcher's call (of the seed's runs, and of the optimized prompts') and re-run the
    # answerer only
    assert replayed[("s", "a2")] == [[("searcher", {"prompts": ("s", "a")}, {})]] * 2
    assert replayed[("s2", "a")] == [[("searcher", {"prompts": ("s2", "a2")}, {})]] * 2
    # what the search reserves for that check: a whole run (2 calls) per validation question, and once two agents
    # changed, the answerer's call per question for each variant
    maspo._valset, maspo._run_calls = examples[:2], 2
    maspo._probe = Run([("searcher", {}, {}), ("answerer", {}, {})], None, None)
    maspo.current = {"searcher": "s2", "answerer": "a"}
    assert maspo._check_calls() == 2 * 2
    maspo.current = {"searcher": "s2", "answerer": "a2"}
    assert maspo._check_calls() == 2 * 2 + 2 * (1 + 1)
    maspo.label_free = True  # label-free, the check is the judged one, one verdict per question
    assert maspo._check_calls() == 2 * 3


def test_rotate_draws_each_later_turn_a_new_minibatch():
    # 24 examples: minibatches of 4 for the two agents, then 8 confirmation examples (race of 2), then the rest
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(24)]
    seen = {}
    for rotate in (False, True):
        lm = ToyLM(_rules())
        maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4,
                      rounds=3, race=2, schedule="equal_calls", rotate=rotate)
        turn = maspo._turn
        seen[rotate] = []

        def recorded(student, agent, round_, batch, *args, _turn=turn, _seen=seen[rotate]):
            _seen.append((agent, frozenset(ex.question for ex in batch)))
            return _turn(student, agent, round_, batch, *args)

        maspo._turn = recorded
        maspo.compile(Toy(), trainset=examples)
    confirmation = set(_race(examples, race=2)[1])
    for rotate, turns in seen.items():
        assert len(turns) == 6
        batches = {agent: [b for a, b in turns if a == agent] for agent in ("searcher", "answerer")}
        assert all(len(set(bs)) == (3 if rotate else 1) for bs in batches.values())
        # later minibatches come after the confirmation examples, then wrap to the pool's start
        assert not any(b & confirmation for _, b in turns)
    assert seen[False][0] == seen[True][0] and seen[False][1] == seen[True][1]  # the first turns' are the same


def test_a_single_agent_program_is_refused():
    from optimizers.maspo import Maspo
    from optimizers.budget import PRESETS
    from runtime import UserError

    with pytest.raises(UserError, match="two or more agents"):
        Maspo().plan(PRESETS["medium"], 100, 50, 1)
    assert Maspo().plan(PRESETS["medium"], 100, 50, 2).params["schedule"] == "by_credit"  # compile.py's


def _batches(examples, minibatch=4):
    """The searcher's minibatch and its confirmation minibatch (a race of one), as MASPO draws them (seed 0)."""
    first, order = _race(examples, minibatch, race=1)
    return first, set(order)


def _race(examples, minibatch=4, race=2):
    """The searcher's minibatch and the order its first race meets the confirmation examples in (seed 0)."""
    import random

    pool = list(examples)
    random.Random(0).shuffle(pool)
    order = pool[2 * minibatch:(2 + race) * minibatch]
    random.Random("0-race").shuffle(order)
    return {ex.question for ex in pool[:minibatch]}, [ex.question for ex in order]


@pytest.mark.parametrize("second_rung, examples_seen", [("behind", 4), ("ahead, then behind", 8)])
def test_the_race_goes_on_only_while_the_candidate_stays_ahead(second_rung, examples_seen):
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(16)]
    first, order = _race(examples)
    if second_rung == "behind":  # the seed's answers on the race's first 4 are right, the GOOD query's wrong
        right = {"right": first, "plain": set(order[:4])}
    else:  # GOOD fixes one of the first 4 and breaks all of the next 4: -3 answers over 8
        right = {"right": first | {order[0]}, "plain": set(order[4:])}
    lm = SplitLM(["GOOD: name the entity.", "Answer plainly."], right)
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
                  patience=1, confirm=True, race=2)
    program = maspo.compile(Toy(), trainset=examples)
    credit = program.optimizer_report["credit"]["searcher"]
    [refused] = credit["refused_on_confirmation"]
    assert refused["examples"] == examples_seen and refused["second_global_delta"] < 0
    assert "GOOD" not in program.searcher.signature.instructions and not credit["accepted"]


def test_a_candidate_ahead_at_every_check_of_the_race_is_accepted_with_all_its_scores_pooled():
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(16)]
    first, order = _race(examples)
    lm = SplitLM(["GOOD: name the entity.", "Answer plainly."], {"right": first | set(order)})
    lines = []
    program = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
                    patience=1, confirm=True, race=2, on_decision=lines.append).compile(Toy(), trainset=examples)
    credit = program.optimizer_report["credit"]["searcher"]
    assert "GOOD" in program.searcher.signature.instructions and not credit["refused_on_confirmation"]
    [accepted] = credit["accepted"]  # on 12 examples: the minibatch and both race minibatches
    assert accepted["global_delta"] == 1.0 and accepted["combined"] == pytest.approx(0.8)
    assert lines[0].startswith("searcher (turn 1, round 1): accepted")


class AnswerLM(SplitLM):
    """As SplitLM, but an answerer instruction with GOOD-ANSWER in it writes another answer: right for the
    questions in `good`, else a different wrong one."""

    def __init__(self, proposals, good: set):
        super().__init__(proposals, {})
        self.good = good

    @with_callbacks
    def __call__(self, prompt=None, messages=None, **kwargs):
        system, user = messages[0]["content"], messages[-1]["content"]
        if len(messages) > 1 and "GOOD-ANSWER" in system and "`answer`" in system:
            self.calls["answerer"] += 1
            answer = "42" if _field(user, "question") in self.good else "forty"
            return [f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"]
        return SplitLM.__call__.__wrapped__(self, prompt, messages, **kwargs)


@pytest.mark.parametrize("confirm, good_on_race, accepted", [(True, True, True), (True, False, False),
                                                              (False, True, False)])
def test_a_last_agents_candidate_level_on_its_minibatch_is_raced_on_other_questions(confirm, good_on_race, accepted):
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(16)]
    _, order = _race(examples)  # every answer of the seed's is wrong; the answerer's minibatch is none of these
    # The searcher's GOOD query is level too (every answer still wrong) but judged (a tie), so it is not raced.
    lm = AnswerLM(["GOOD: name the entity.", "GOOD-ANSWER: answer with the number."],
                  set(order) if good_on_race else set())
    lines = []
    program = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
                    patience=1, confirm=confirm, race=2, on_decision=lines.append).compile(Toy(), trainset=examples)
    credit = program.optimizer_report["credit"]
    [answerer_step] = [s for s in program.optimizer_report["steps"] if s["agent"] == "answerer"]
    assert answerer_step["candidates"][0]["global_delta"] == 0.0  # level on its minibatch, with other answers
    assert ("GOOD-ANSWER" in program.answerer.signature.instructions) == accepted
    [searcher_step] = [s for s in program.optimizer_report["steps"] if s["agent"] == "searcher"]
    assert searcher_step["candidates"][0]["global_delta"] == 0.0
    assert not credit["searcher"]["refused_on_confirmation"] and not credit["searcher"]["accepted"]
    if accepted:
        assert credit["answerer"]["accepted"][0]["global_delta"] == round(8 / 12, 4)  # 0 on 4, +1 on 8
        assert lines == [lines[0]] and lines[0].startswith("answerer (turn 2, round 1): accepted")
    elif confirm:
        [refused] = credit["answerer"]["refused_on_confirmation"]
        assert refused["examples"] == 4 and refused["second_global_delta"] == 0.0
    else:
        assert not lines and not credit["answerer"]["refused_on_confirmation"]


def test_a_race_must_have_at_least_one_minibatch():
    with pytest.raises(ValueError, match="race must be at least 1"):
        MASPO(exact, race=0)


def test_a_later_agents_minibatch_holds_as_many_examples_as_a_whole_runs_minibatch_costs():
    # The answerer's candidates re-run one call of the program's two: its minibatches are twice the searcher's.
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(24)]
    sizes = {}
    for matched in (True, False):
        maspo = MASPO(exact, prompt_model=(lm := ToyLM([])), task_model=lm, depth=1, branch=1, beam_width=1,
                      minibatch=4, patience=1, confirm=True, cost_matched=matched)
        maspo.compile(Toy(), trainset=examples)
        sizes[matched] = {agent: len(batch) for agent, batch in maspo._minibatches.items()}
        sizes[matched]["confirmation"] = len(maspo._confirm_pool)  # one race minibatch of the largest size
        seen = [ex.question for batch in [*maspo._minibatches.values(), maspo._confirm_pool] for ex in batch]
        assert len(seen) == len(set(seen))  # no example serves two purposes while the pool lasts
    assert sizes == {True: {"searcher": 4, "answerer": 8, "confirmation": 8},
                     False: {"searcher": 4, "answerer": 4, "confirmation": 4}}
    # A pool smaller than that caps it.
    maspo = MASPO(exact, prompt_model=(lm := ToyLM([])), task_model=lm, depth=1, branch=1, beam_width=1,
                  minibatch=4, patience=1, confirm=True, cost_matched=True)
    maspo.compile(Toy(), trainset=examples[:6])
    assert {agent: len(batch) for agent, batch in maspo._minibatches.items()} == {"searcher": 4, "answerer": 6}


def test_the_proposer_sees_the_instructions_scored_for_its_agent_worst_first(examples):
    seed = Search.instructions
    lm = ToyLM(["BAIT: write fancy queries.", "GOOD: name the entity.", "Answer plainly.", "Answer briefly."])
    MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, patience=1,
          rounds=2, proposal="add_rule").compile(Toy(), trainset=examples)
    first, *_, later = [m for m in lm.meta_prompts if "agent 'searcher'" in m]
    assert "already tried" not in first
    history = later.split("Instructions already tried for this agent", 1)[1].split("\n\n", 1)[0]
    # Added rules are shown as the rule alone; the bait lost every answer, the good rule changed none.
    bait = history.index('current instruction + "BAIT: write fancy queries.": -1.000')
    good = history.index('current instruction + "GOOD: name the entity.": +0.000')
    assert bait < good and seed not in history


def test_a_win_on_one_minibatch_that_a_second_reverses_is_refused():
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(16)]
    first, second = _batches(examples)
    # The GOOD query fixes the first minibatch's answers and breaks the second's, where the seed's were right.
    lm = SplitLM(["GOOD: name the entity.", "Answer plainly."], {"right": first, "plain": second})
    lines = []
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
                  patience=1, confirm=True, rounds=3, on_decision=lines.append)
    program = maspo.compile(Toy(), trainset=examples)
    credit = program.optimizer_report["credit"]["searcher"]
    assert "GOOD" not in program.searcher.signature.instructions and not credit["accepted"]
    [refused] = credit["refused_on_confirmation"]  # once: a refused candidate leaves the beam, not confirmed again
    assert lines == ["searcher (turn 1, round 1): refused on confirmation: 0.800 on its minibatch, 0.200 "
                     "(Δ metric -1.000) on 4 other examples"]
    assert refused["first"] == pytest.approx(0.8) and refused["second_global_delta"] == -1.0
    # Without the confirmation the same search accepts it.
    lm = SplitLM(["GOOD: name the entity.", "Answer plainly."], {"right": first, "plain": second})
    unconfirmed = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
                        patience=1).compile(Toy(), trainset=examples)
    assert "GOOD" in unconfirmed.searcher.signature.instructions


def test_a_refused_candidate_is_in_the_proposers_history_with_its_score_on_every_question_it_met():
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(16)]
    first, second = _batches(examples)
    # GOOD fixes its minibatch's 4 answers (+1.000 there) and breaks the confirmation's 4 (-1.000): 0 over the 8.
    lm = SplitLM(["GOOD: name the entity.", "Answer plainly."], {"right": first, "plain": second})
    MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4, patience=1,
          confirm=True, rounds=2).compile(Toy(), trainset=examples)
    later = [m for m in lm.meta_prompts if "agent 'searcher'" in m][-1]
    history = later.split("Instructions already tried for this agent", 1)[1].split("\n\n", 1)[0]
    assert '"GOOD: name the entity.": +0.000' in history and "+1.000" not in history


def test_a_win_on_the_first_minibatch_that_outweighs_a_loss_on_the_second_is_refused():
    # The first minibatch is where the turn picked its best: only the second, by itself, can confirm it.
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(16)]
    first, second = _batches(examples)
    kept = set(sorted(second)[1:])  # the GOOD query fixes the first minibatch and breaks one of the second's four
    lm = SplitLM(["GOOD: name the entity.", "Answer plainly."], {"right": first | kept, "plain": second})
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
                  patience=1, confirm=True)
    program = maspo.compile(Toy(), trainset=examples)
    credit = program.optimizer_report["credit"]["searcher"]
    [refused] = credit["refused_on_confirmation"]  # pooled it is +0.375 F1 (+1 on 4, -0.25 on 4): it was accepted
    assert refused["first"] == pytest.approx(0.8) and refused["second_global_delta"] == -0.25
    assert "GOOD" not in program.searcher.signature.instructions and not credit["accepted"]


def test_a_win_the_second_minibatch_confirms_is_accepted_with_the_pooled_scores():
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(16)]
    first, second = _batches(examples)
    lm = SplitLM(["GOOD: name the entity.", "Answer plainly."], {"right": first | second})
    lines = []
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
                  patience=1, confirm=True, on_decision=lines.append)
    program = maspo.compile(Toy(), trainset=examples)
    credit = program.optimizer_report["credit"]["searcher"]
    assert "GOOD" in program.searcher.signature.instructions and not credit["refused_on_confirmation"]
    [line] = lines  # the answerer's "Answer plainly." is level on its minibatch, but wrote the same: not raced
    assert line.startswith("searcher (turn 1, round 1): accepted, combined 0.800, Δ metric +1.000: ") and "GOOD" in line
    [accepted] = credit["accepted"]
    assert accepted["global_delta"] == 1.0 and accepted["combined"] == pytest.approx(0.8)  # on 8 examples


def test_a_later_agents_cases_show_what_it_received_beyond_the_question(examples):
    lm = GainLM(["GOOD: name the entity.", "Answer plainly."])  # only question 0 is ever answered right
    MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
          patience=1).compile(Toy(), trainset=examples)
    searcher = next(m for m in lm.meta_prompts if "agent 'searcher'" in m)
    answerer = next(m for m in lm.meta_prompts if "agent 'answerer'" in m)
    assert "this agent received" not in searcher  # the searcher reads only the question
    assert "this agent received: query: right\n  this agent wrote: answer: wrong" in answerer  # after GOOD


def test_where_the_next_agent_gives_the_final_answer_lookahead_is_the_metric_not_a_second_judgment(examples):
    import random

    from optimizers.replay import Run

    lm = ToyLM([])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm)
    maspo.agents, maspo._seed = ["searcher", "answerer"], {"searcher": "s", "answerer": "a"}
    maspo.current, maspo.partner_version = dict(maspo._seed), 0
    with dspy.context(lm=lm):
        base_runs = maspo._run_all(recording(Toy(), maspo.current), examples)
        judged = lm.calls["judge"]
        scored = maspo._evaluate(Toy(), "searcher", "BAIT: write fancy queries.", examples, base_runs,
                                 random.Random(0))
    assert lm.calls["judge"] - judged == len(examples), "only the searcher's own queries were judged"
    assert scored.levels == {"local": 1.0, "lookahead": 0.0, "global": 0.0}
    # An answer the program changes after its last agent is no final answer of that agent's: the judge decides.
    answered = Run([("answerer", {"query": "q"}, {"answer": "42"})], dspy.Prediction(answer="42"), 1.0)
    rewritten = Run([("answerer", {"query": "q"}, {"answer": "42"})], dspy.Prediction(answer="forty-two"), 1.0)
    assert MASPO._gives_final(answered, "answerer") and not MASPO._gives_final(rewritten, "answerer")


def test_with_labels_an_agent_whose_output_is_the_final_answer_is_compared_by_the_metric_not_judged(examples):
    import random

    class Guesser(ToyLM):  # an answerer told to GUESS answers 41
        def __call__(self, prompt=None, messages=None, **kwargs):
            system = messages[0]["content"]
            if "GUESS" in system and "`answer`" in system.split("Your output fields are:", 1)[-1][:200]:
                self.calls["answerer"] += 1
                return ["[[ ## answer ## ]]\n41\n\n[[ ## completed ## ]]"]
            return super().__call__(prompt, messages, **kwargs)

    def judgments(label_free: bool) -> tuple[int, object]:
        lm = Guesser([])
        maspo = MASPO(None if label_free else exact, prompt_model=lm, task_model=lm, label_free=label_free)
        maspo.agents, maspo._seed = ["searcher", "answerer"], {"searcher": "s", "answerer": "a"}
        maspo.current, maspo.partner_version = dict(maspo._seed), 0
        with dspy.context(lm=lm):
            base_runs = maspo._run_all(recording(Toy(), maspo.current), examples)
            scored = maspo._evaluate(Toy(), "answerer", "GUESS.", examples, base_runs, random.Random(0))
        return lm.calls["judge"], scored

    judged, scored = judgments(label_free=False)
    assert judged == 0, "the answerer's answers are the final answers: the metric compares them"
    assert scored.levels == {"local": 0.0, "lookahead": 0.0, "global": 0.0} and scored.global_delta == -1.0
    judged, scored = judgments(label_free=True)  # no labels: the judge compares them, once per example
    assert judged == len(examples) and scored.levels["local"] == 0.0  # it prefers 42


def test_label_free_ships_only_what_the_judge_prefers_on_held_out_inputs(examples):
    unlabeled = [dspy.Example(question=ex.question).with_inputs("question") for ex in examples]
    lm = ToyLM([])  # its judge prefers the final answer 42 to "wrong"
    maspo = MASPO(None, prompt_model=lm, task_model=lm, label_free=True)
    bait = {"searcher": "BAIT: write fancy queries.", "answerer": "a"}  # its answers are wrong
    good = {"searcher": "GOOD: name the entity.", "answerer": "a"}
    with dspy.context(lm=lm):
        maspo._seed = bait
        assert maspo._final_check(Toy(), good, unlabeled) == good
        assert maspo.validation["judged_wins"] == 4 and maspo.validation["p_value"] < 0.1
        maspo._seed = good
        assert maspo._final_check(Toy(), bait, unlabeled) == good
        assert maspo.validation["judged_losses"] == 4
        # the same answers both ways: ties, no evidence, the seed stays
        assert maspo._final_check(Toy(), {**good, "searcher": "Name the entity."}, unlabeled) == good
        assert maspo.validation["ties"] == 4 and maspo.validation["p_value"] == 1.0


def test_with_labels_a_local_win_the_metric_does_not_see_is_not_accepted(examples):
    class LikesRight(ToyLM):  # the judge prefers the GOOD searcher's "right" query; the answers stay 42
        @with_callbacks
        def __call__(self, prompt=None, messages=None, **kwargs):
            system, user = messages[0]["content"], messages[-1]["content"]
            if len(messages) > 1 and "output_a" in system:
                self.calls["judge"] += 1
                a, b = _field(user, "output_a"), _field(user, "output_b")
                pick = "A" if "right" in a else "B" if "right" in b else "tie"
                return [f"[[ ## better ## ]]\n{pick}\n\n[[ ## completed ## ]]"]
            return ToyLM.__call__.__wrapped__(self, prompt, messages, **kwargs)

    lm = LikesRight(["GOOD: name the entity.", "Answer plainly."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4, patience=1)
    program = maspo.compile(Toy(), trainset=examples)
    good = next(c for s in program.optimizer_report["steps"] if s["agent"] == "searcher" for c in s["candidates"])
    assert good["levels"]["local"] == 1.0 and good["global_delta"] == 0.0 and good["combined"] > 0.5
    assert "GOOD" not in program.searcher.signature.instructions


def test_the_cases_shown_to_a_proposer_are_drawn_anew_for_each_proposal():
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(8)]
    lm = SplitLM([f"Rule {i}." for i in range(40)], {})  # every answer is wrong: 8 failing cases, 3 shown
    MASPO(exact, prompt_model=lm, task_model=lm, depth=3, branch=2, beam_width=1, minibatch=8, patience=3,
          failures_shown=3).compile(Toy(), trainset=examples)
    shown = [re.findall(r"- input: question: (question \d\?)", m) for m in lm.meta_prompts
             if "agent 'searcher'" in m]
    assert len(shown) >= 4 and all(len(cases) == 3 for cases in shown)
    assert len({q for cases in shown for q in cases}) > 3, "the same worst three every time"


def test_a_proposal_that_copies_the_meta_prompts_own_wording_is_not_scored(examples):
    echo = "Search well: a concrete rule that fixes the cases above and makes the program's final answers better."
    lm = ToyLM([echo, "GOOD: name the entity.", "Answer plainly.", "Answer briefly."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, patience=1,
                  proposal="add_rule")
    report = maspo.compile(Toy(), trainset=examples).optimizer_report
    searched = [c["instruction"] for s in report["steps"] if s["agent"] == "searcher" for c in s["candidates"]]
    assert searched == [f"{Search.instructions} GOOD: name the entity."]


def test_with_max_calls_one_round_that_proposes_nothing_new_does_not_end_the_search(examples):
    lm = ToyLM(["GOOD: name the entity.", "Answer plainly.", "GOOD: name the entity.", "Answer plainly.",
                "Search for the entity named.", "Answer briefly."])  # round 2 repeats round 1
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4, rounds=10,
                  max_calls=10_000)
    report = maspo.compile(Toy(), trainset=examples).optimizer_report
    searched = [c["instruction"] for s in report["steps"] if s["agent"] == "searcher" for c in s["candidates"]]
    assert "Search for the entity named." in searched and report["stopped"] == "no new proposals"


@pytest.mark.parametrize("successes", [0, 1])
def test_a_proposer_can_be_shown_cases_the_current_program_got_right_after_its_failures(successes):
    examples = [dspy.Example(question=f"question {i}?", answer="42").with_inputs("question") for i in range(8)]
    lm = SplitLM(["Rule."], {"plain": {"question 1?", "question 5?"}})  # the seed gets two of eight right
    MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=8, patience=1,
          failures_shown=3, successes_shown=successes).compile(Toy(), trainset=examples)
    meta = lm.meta_prompts[0]
    failing, right = meta.split("Cases the current program got right")[0], meta.partition("got right")[2]
    assert len(re.findall(r"score 0\.00", failing)) == 3 and "score 1.00" not in failing
    assert len(re.findall(r"- input: question: question [15]\?", right)) == successes
    assert ("got right" in meta) == bool(successes)


def test_the_proposer_is_told_the_programs_whole_docstring_on_one_line(examples):
    class Wrapped(Toy):
        """A searcher writes a query, then the answerer
        answers with the shortest span.

        A second paragraph."""

    lm = ToyLM(["GOOD: name the entity."])
    MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=1, beam_width=1, minibatch=4,
          patience=1).compile(Wrapped(), trainset=examples)
    # It was cut at the docstring's first line break ("… then the answerer").
    assert lm.meta_prompts[0].startswith("A searcher writes a query, then the answerer answers with the shortest "
                                         "span.\n\nA second paragraph.\n\n")


def test_with_max_words_the_proposer_is_asked_for_short_instructions_and_a_longer_one_is_not_scored(examples):
    seed = Search.instructions  # 7 words
    lm = ToyLM(["GOOD: name the entity in the question, and write nothing else in the query.", "be brief.",
                "Answer plainly.", "Answer briefly."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, patience=1,
                  proposal="mixed", max_words=12)
    report = maspo.compile(Toy(), trainset=examples).optimizer_report
    searched = [c["instruction"] for s in report["steps"] if s["agent"] == "searcher" for c in s["candidates"]]
    assert searched == [f"{seed} be brief."]  # the 14-word rewrite was dropped unscored
    assert maspo._proposer.dropped["too long"] == 1
    rewrite, rule = lm.meta_prompts[:2]
    assert "Use at most 12 words." in rewrite and "ONE sentence of at most 5 words" in rule  # 12 less the seed's 7


def test_with_max_words_a_parent_with_no_room_for_a_rule_gets_rewrites_only(examples):
    lm = ToyLM(["GOOD: name the entity.", "Search for the entity.", "Answer plainly.", "Answer briefly."])
    MASPO(exact, prompt_model=lm, task_model=lm, depth=1, branch=2, beam_width=1, minibatch=4, patience=1,
          proposal="mixed", max_words=8).compile(Toy(), trainset=examples)
    searcher = [m for m in lm.meta_prompts if "agent 'searcher'" in m]
    assert len(searcher) == 2 and all("Write a new instruction for this agent" in m for m in searcher)


def test_fresh_proposals_see_the_current_instruction_only_as_one_scored_entry_among_those_tried(examples):
    seed = Search.instructions
    lm = ToyLM(["BAIT: write fancy queries.", "GOOD: name the entity."])
    maspo = MASPO(exact, prompt_model=lm, task_model=lm, depth=2, branch=2, beam_width=1, minibatch=4, patience=2,
                  proposal="fresh")
    maspo.compile(Toy(), trainset=examples)
    searcher = [m for m in lm.meta_prompts if "agent 'searcher'" in m]
    first, second = searcher[0], searcher[2]  # each step samples its 2 children from one meta-prompt
    assert "Its current instruction" not in first and "Instructions already tried" not in first
    assert f"text:\n{seed}\nscore:\n100" in first  # the seed's final answers are all right on its minibatch
    assert "different from all the instructions above" in first
    assert not first.rstrip().endswith("square brackets.")  # a style tip follows, as OPRO's
    # The next step lists the instruction level with the seed before it (worst first), and not the bait, which
    # lost every final answer: a small proposer rewrites what it is shown.
    assert second.index("text:\nGOOD: name the entity.\nscore:\n100") < second.index(f"text:\n{seed}\nscore:\n100")
    assert "text:\nBAIT" not in second
