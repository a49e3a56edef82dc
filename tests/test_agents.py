"""Agents on their own models: the binding survives optimizer copies and never reaches saved or pickled state."""

import argparse
import json
import pickle

import dspy
import pytest
from dspy.utils.dummies import DummyLM

import cli
from programs.agents import agent_names, agent_of, bind_agent_models
from programs.researcher_writer import ResearcherWriter
from runtime import UserError


def test_agents_are_named_like_predictors():
    program = ResearcherWriter(None)
    assert agent_names(program) == ["researcher", "writer"]
    assert agent_of(program, "writer.write") == "writer" and agent_of(program, "researcher.hop") == "researcher"


def test_the_binding_survives_reset_copy_and_routes_the_agents_calls():
    task, writer = DummyLM([{"answer": "from task"}]), DummyLM([{"answer": "from writer"}])
    program = bind_agent_models(ResearcherWriter(None), {"writer": writer})
    copy = program.reset_copy()  # what BootstrapFewShot and MIPROv2 do to the student
    with dspy.context(lm=task, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        out = copy.writer(question="q?", passages=["p"])
    assert out.answer == "from writer" and len(writer.history) == 1 and not task.history


def test_the_binding_is_neither_saved_nor_pickled(tmp_path):
    program = bind_agent_models(ResearcherWriter(None), {"writer": DummyLM([{"answer": "x"}])})
    program.save(str(tmp_path / "program.json"))
    state = json.loads((tmp_path / "program.json").read_text())
    assert state["writer.write"]["lm"] is None
    restored = pickle.loads(pickle.dumps(program.writer._binding))
    assert restored.lm is None


def test_unknown_agents_are_refused_with_the_known_ones():
    with pytest.raises(UserError, match=r"no agent 'editor' \(its agents: researcher, writer\)"):
        bind_agent_models(ResearcherWriter(None), {"editor": None})


@pytest.mark.parametrize("flags, message", [(["writer"], "is not AGENT=MODEL"), (["=local"], "is not AGENT=MODEL"),
                                            (["writer=a", "writer=b"], "names 'writer' twice")])
def test_agent_model_flags_are_checked(flags, message):
    with pytest.raises(UserError, match=message):
        cli.agent_models(argparse.Namespace(agent_model=flags))


def test_agent_model_flags_parse():
    args = argparse.Namespace(agent_model=["writer=local-1.5b", "researcher = openai/gpt-4o-mini"])
    assert cli.agent_models(args) == {"writer": "local-1.5b", "researcher": "openai/gpt-4o-mini"}
