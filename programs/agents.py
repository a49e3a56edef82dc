"""Agents: the sub-modules of a multi-agent program, each of which may run on its own model.

`--agent-model writer=local-1.5b` puts one agent on a stronger (dearer) model and leaves the others on the task
model. DSPy's per-predictor `lm` cannot carry that through a compile: optimizers copy the student with
`reset_copy()`, which sets every predictor's `lm` back to None, so the agent would silently run on the task model
while it is being optimized. An `Agent` holds its model on the module instead and runs inside
`dspy.context(lm=...)`: copies keep the binding, and `program.json` never contains it (the artifact's manifest
names the models; `compiled.load_compiled` binds them again).
"""

from __future__ import annotations

import dspy

from runtime import UserError


class _Binding:
    """An agent's LM. Copies of a program share it (a model is a connection, not a learned parameter), and it
    pickles as unbound, so no endpoint or LM setting reaches a pickled program (MLflow's DSPy flavor)."""

    def __init__(self, lm=None):
        self.lm = lm

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (_Binding, ())


class Agent(dspy.Module):
    """One agent of a multi-agent program. Subclass it instead of `dspy.Module`; `bind_agent_models` sets its LM."""

    def __call__(self, *args, **kwargs):
        binding = self.__dict__.get("_binding")
        if binding is None or binding.lm is None:
            return super().__call__(*args, **kwargs)
        with dspy.context(lm=binding.lm):
            return super().__call__(*args, **kwargs)


def _agents(program) -> dict[str, Agent]:
    """The program's agents by attribute path as `named_predictors` spells it (`writer`, not `self.writer`)."""
    return {name.removeprefix("self."): module for name, module in program.named_sub_modules()
            if isinstance(module, Agent) and name != "self"}


def agent_names(program) -> list[str]:
    """The program's agents (e.g. `researcher`, `writer`), in definition order."""
    return list(_agents(program))


def bind_agent_models(program, lms: dict[str, object]):
    """Run each named agent on its LM (the others keep the task model). Unknown names are refused."""
    by_name = _agents(program)
    for name, lm in lms.items():
        if name not in by_name:
            known = ", ".join(agent_names(program)) or "none: its sub-modules do not subclass programs.agents.Agent"
            raise UserError(f"--agent-model {name}=...: the program has no agent {name!r} (its agents: {known})")
        by_name[name]._binding = _Binding(lm)
    return program


def agent_of(program, predictor_name: str) -> str | None:
    """The agent a predictor belongs to (`writer.write` -> `writer`), if any."""
    owners = [name for name in agent_names(program) if predictor_name.startswith(name + ".")]
    return max(owners, key=len) if owners else None
