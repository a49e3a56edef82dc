"""The trajectory optimizer: LangMem's researcher/writer example, attribution, minimal edits, the re-run check,
and trajectories read from JSONL and from MLflow traces with logged feedback."""

import json
import re
from pathlib import Path

import dspy
import mlflow
import pytest

import tracking
from data import trajectories as logs
from optimizers.trajectories import TrajectoryOptimizer
from runtime import UserError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class FieldLM(dspy.LM):
    """Replies with the output fields a signature asks for, from `answers` (a value, or a function of the user
    message); records every user message."""

    def __init__(self, answers):
        super().__init__("scripted/fields", cache=False)
        self.answers, self.seen = answers, []

    def __call__(self, prompt=None, messages=None, **kwargs):
        system, user = messages[0]["content"], messages[-1]["content"]
        self.seen.append(user)
        wanted = re.findall(r"`(\w+)`", system.split("Your output fields are:", 1)[-1].split("All interactions")[0])
        out = {}
        for name in wanted:
            value = self.answers.get(name, "ok")
            out[name] = value(user) if callable(value) else value
        text = "\n\n".join(f"[[ ## {k} ## ]]\n{v}" for k, v in out.items()) + "\n\n[[ ## completed ## ]]"
        return [text]


def langmem_example():
    trajectories = logs.from_jsonl(EXAMPLES / "langmem_team.jsonl")
    prompts = json.loads((EXAMPLES / "langmem_prompts.json").read_text())
    return trajectories, prompts


def test_langmem_example_from_python_updates_only_the_responsible_prompt():
    trajectories, prompts = langmem_example()
    lm = FieldLM({"score": 0.3, "problem": "The report lacks implementation details.",
                  "responsible": '["researcher"]', "reasons": "The researcher does not collect implementation details.",
                  "added_sentence": "Include implementation details."})
    optimizer = TrajectoryOptimizer(lm, lm)
    updated = optimizer.optimize(trajectories, prompts)
    assert [p["name"] for p in updated] == ["researcher", "writer"]
    assert "implementation details" in updated[0]["prompt"] and updated[1] == prompts[1]
    report = optimizer.report
    assert report["went_wrong"] == 1  # the 0.95 conversation is fine; the other one's feedback was inferred
    assert report["feedback"][0]["inferred"] and not report["feedback"][1]["inferred"]
    assert report["changes"]["researcher"]["kept"] and report["changes"]["researcher"]["similarity"] > 0.5
    assert report["attribution"]["responsible"] == ["researcher"]


def test_nothing_went_wrong_changes_nothing_and_asks_no_attribution():
    trajectories = [logs.parse({"messages": [{"role": "user", "content": "hi"}], "feedback": {"score": 1.0}}, "t")]
    lm = FieldLM({})
    prompts = [{"name": "a", "prompt": "Be brief."}, {"name": "b", "prompt": "Be kind."}]
    assert TrajectoryOptimizer(lm, lm).optimize(trajectories, prompts) == prompts
    assert lm.seen == []


def test_unknown_names_are_ignored_and_a_rewrite_from_scratch_is_not_a_minimal_edit():
    trajectories, prompts = langmem_example()
    lm = FieldLM({"score": 0.2, "problem": "missing details", "responsible": '["editor", "writer"]',
                  "reasons": "x", "added_sentence": "Completely different text about cooking pasta at home, "
                                                             "with a long story about the history of Italian food."})
    optimizer = TrajectoryOptimizer(lm, lm, min_similarity=0.9)
    assert optimizer.optimize(trajectories, prompts) == prompts
    change = optimizer.report["changes"]["writer"]
    assert not change["kept"] and "not a minimal edit" in change["skipped"]
    assert "editor" not in optimizer.report["changes"]


class Echo(dspy.Module):
    """Answers questions."""

    def __init__(self):
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, question):
        return self.answer(question=question)


@pytest.mark.parametrize("judge_prefers_new, kept", [(True, True), (False, False)])
def test_a_rewrite_is_kept_only_if_the_judge_prefers_the_rerun_outputs(judge_prefers_new, kept):
    def answer(user):
        return "detailed answer" if "Detailed" in user else "short answer"

    def verdict(user):
        a = re.search(r"\[\[ ## output_a ## \]\]\n(.*?)\n", user).group(1)
        return "A" if ("detailed" in a) == judge_prefers_new else "B"

    # The task LM sees the instruction in the system message: answer from the whole prompt.
    class TaskLM(FieldLM):
        def __call__(self, prompt=None, messages=None, **kwargs):
            text = "[[ ## answer ## ]]\n" + answer(messages[0]["content"]) + "\n\n[[ ## completed ## ]]"
            return [text]

    prompt_lm = FieldLM({"responsible": '["answer"]', "reasons": "too short",
                         "added_sentence": "Detailed.",
                         "better": verdict})
    trajectories = [logs.parse({"messages": [{"role": "user", "content": f"q{i}"}], "inputs": {"question": f"q{i}"},
                                "feedback": {"score": 0.1, "comment": "too short"}}, "t") for i in range(4)]
    program = TrajectoryOptimizer(prompt_lm, TaskLM({})).compile(Echo(), trajectories=trajectories)
    check = program.optimizer_report["changes"]["answer"]["check"]
    assert check["reruns"] == 4 and check["kept"] is kept
    assert check["win_rate"] == (1.0 if kept else 0.0)
    assert ("Detailed" in program.answer.signature.instructions) is kept


def test_malformed_trajectory_lines_are_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": "oops"}\n')
    with pytest.raises(UserError, match=r"t.jsonl:2: a trajectory needs a 'messages' list"):
        logs.from_jsonl(path)
    path.write_text('{"messages": [{"role": "user", "content": "hi"}], "feedback": {"score": "high"}}\n')
    with pytest.raises(UserError, match="feedback score must be a number"):
        logs.from_jsonl(path)


def test_trajectories_from_mlflow_traces_with_logged_feedback(tmp_path):
    class Team(dspy.Module):
        """A researcher and a writer."""

        def __init__(self):
            super().__init__()
            self.research = dspy.Predict("question -> notes")
            self.write = dspy.Predict("question, notes -> answer")

        def forward(self, question):
            notes = self.research(question=question).notes
            return self.write(question=question, notes=notes)

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("served")
    mlflow.dspy.autolog()
    lm = FieldLM({"notes": "Paris is in France.", "answer": "Paris"})
    try:
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
            Team()(question="Capital of France?")
        trace_id = mlflow.get_last_active_trace_id()
        tracking.flush_traces()  # traces are written asynchronously
        mlflow.log_feedback(trace_id=trace_id, name="user", value=0.2, rationale="too terse")
        fields = {"research": ({"question"}, {"notes"}), "write": ({"question", "notes"}, {"answer"})}
        found = logs.load("served", fields)
    finally:
        mlflow.dspy.autolog(disable=True)
    assert len(found) == 1
    t = found[0]
    assert t.inputs == {"question": "Capital of France?"}
    assert [m.get("step") for m in t.messages] == [None, "research", "write"]
    assert t.feedback == {"score": 0.2, "comment": "too terse"}


def test_langmem_pairs_are_accepted_as_they_are_written_there():
    pair = ([{"role": "user", "content": "Analyze new ML models"}], {"score": 0.95})
    t = logs.parse(pair, "trajectory 0")
    assert t.feedback == {"score": 0.95} and t.messages[0]["content"] == "Analyze new ML models"
