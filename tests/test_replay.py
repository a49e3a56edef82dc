"""Re-running a program from one step onward: replayed calls reach no LM, and replay stops where the run departs."""

import dspy

from optimizers.replay import recording, run_all


class EchoLM(dspy.LM):
    """Answers with the instruction's first word and the call number; counts its calls."""

    def __init__(self):
        super().__init__("scripted/echo", cache=False)
        self.calls = 0

    def __call__(self, prompt=None, messages=None, **kwargs):
        self.calls += 1
        word = messages[0]["content"].split("objective is:")[-1].split()[0]
        value = f"{word}-{self.calls}"  # both steps' output fields: each step's adapter reads its own
        return [f"[[ ## draft ## ]]\n{value}\n\n[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]"]


class DraftCheckDraft(dspy.Module):
    """Step a drafts, step b checks, step a drafts again from b's check: a is called before and after b."""

    def __init__(self):
        super().__init__()
        self.a = dspy.Predict(dspy.Signature("question -> draft", "Draft."))
        self.b = dspy.Predict(dspy.Signature("question, draft -> answer", "Check."))

    def forward(self, question):
        first = self.a(question=question).draft
        checked = self.b(question=question, draft=first).answer
        return self.a(question=f"{question} {checked}")


def test_a_rerun_replays_the_calls_before_the_step_and_runs_everything_after_it():
    lm = EchoLM()
    examples = [dspy.Example(question=q).with_inputs("question") for q in ("one", "two")]
    with dspy.context(lm=lm):
        base = run_all(recording(DraftCheckDraft(), {"a": "Draft.", "b": "Check."}), examples, None)
        assert [[step for step, _, _ in r.events] for r in base] == [["a", "b", "a"]] * 2
        assert lm.calls == 6 and all(r.fresh == 3 for r in base)
        changed = recording(DraftCheckDraft(), {"a": "Draft.", "b": "Verify."})
        again = run_all(changed, examples, None, [r.before("b") for r in base])
    # Only a's first call was replayed: b changed, and a's second call reads b's new output.
    assert lm.calls == 6 + 2 * 2 and all(r.fresh == 2 for r in again)
    assert [r.events[0] for r in again] == [r.events[0] for r in base]
    assert all(r.events[1][2]["answer"].startswith("Verify") for r in again)
    assert all(a.events[2][1] != b.events[2][1] for a, b in zip(again, base))  # a's second call saw b's new answer


def test_a_failed_run_is_scored_zero():
    def broken_metric(example, prediction):
        raise ValueError("no answer field")

    lm = EchoLM()
    examples = [dspy.Example(question="one").with_inputs("question")]
    with dspy.context(lm=lm):
        runs = run_all(recording(DraftCheckDraft(), {"a": "Draft.", "b": "Check."}), examples, broken_metric)
    assert runs[0].score == 0.0


def test_a_call_whose_inputs_differ_from_the_recording_runs():
    lm = EchoLM()
    one = [dspy.Example(question="one").with_inputs("question")]
    with dspy.context(lm=lm):
        base = run_all(recording(DraftCheckDraft(), {"a": "Draft.", "b": "Check."}), one, None)
        other = [dspy.Example(question="two").with_inputs("question")]  # step a now reads another question
        again = run_all(recording(DraftCheckDraft(), {"a": "Draft.", "b": "Verify."}), other, None,
                        [base[0].before("b")])
    assert again[0].fresh == 3 and again[0].events[0][1] == {"question": "two"}
