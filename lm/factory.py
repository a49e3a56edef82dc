"""Model specs -> configured `dspy.LM` objects.

A spec is what a user types after `--model` or `--prompt-model`:
  local                    the embedded default (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M), served in-process
  local-1.5b               Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), the same way; `pip install -e ".[local-1-5b]"`
  local:/path/model.gguf   any GGUF file, served the same way
  <litellm model string>   anything LiteLLM speaks: openai/gpt-4o-mini, anthropic/..., ollama_chat/...,
                           or openai/<name> with --api-base for vLLM / SGLang / any OpenAI-compatible server
Keys come from the environment only (LiteLLM reads OPENAI_API_KEY etc.); they are never passed, stored or logged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import runtime  # noqa: F401  (offline defaults first)
from runtime import UserError, first_line

LOCAL = "local"
# Placeholder for servers that need no key; the OpenAI client refuses to start without one.
NO_KEY = "not-needed"
DEFAULT_MAX_TOKENS = 256  # a small model can loop until the limit; a bound keeps one bad call cheap


@dataclass(frozen=True)
class ModelSpec:
    spec: str
    api_base: str | None = None

    @property
    def packaged(self):
        from lm.weights import PACKAGED

        return PACKAGED.get(self.spec)

    @property
    def is_local(self) -> bool:
        return self.packaged is not None or self.spec.startswith(LOCAL + ":")

    @property
    def label(self) -> str:
        """A short, filesystem-safe name used in artifact paths and run names."""
        if self.packaged:
            return self.packaged.name
        if self.is_local:
            return Path(self.spec.split(":", 1)[1]).stem
        return self.spec.replace("/", "__").replace(":", "_")


# What ChatAdapter writes after the last output field: parsing does not need it, so generation stops there.
CHAT_END_MARKER = "[[ ## completed ## ]]"


def _local_lm(spec: ModelSpec, **kwargs):
    import dspy

    from lm import embedded, weights

    if spec.packaged:
        path = weights.ensure_packaged_model(spec.packaged)
        tag = spec.packaged.sha256[:8]
    else:
        path = weights.check_gguf_file(spec.spec.split(":", 1)[1])
        st = path.stat()
        tag = f"{st.st_size:x}"
    base = embedded.serve(path)
    # The model name, not the random port, identifies the weights in DSPy's cache key (api_base is ignored).
    built = dspy.LM(f"openai/{spec.label}-{tag}", api_base=base, api_key=NO_KEY, stop=[CHAT_END_MARKER], **kwargs)
    # llama.cpp's server continues a prefilled reply (lm/adapter.py); LMCOMPILE_PREFILL=0 turns that off.
    built.continues_prefill = os.environ.get("LMCOMPILE_PREFILL", "1") not in ("0", "false")
    return built


def make_lm(spec: ModelSpec, *, temperature: float = 0.0, max_tokens: int = DEFAULT_MAX_TOKENS, cache: bool = True):
    """Build the `dspy.LM` for `spec`. Fails with one clear line if the model cannot be had."""
    import dspy

    kwargs = dict(temperature=temperature, max_tokens=max_tokens, cache=cache)
    if spec.is_local:
        return _local_lm(spec, **kwargs)
    if "/" not in spec.spec:
        raise UserError(
            f"unknown model {spec.spec!r}: use 'local', 'local-1.5b', 'local:/path/model.gguf' or a LiteLLM string "
            f"such as 'openai/gpt-4o-mini' (provider/model)"
        )
    if spec.api_base:
        # An OpenAI-compatible server at --api-base: a key is used when the user exported one.
        key = None if os.environ.get("OPENAI_API_KEY") else NO_KEY
        extra = {"api_key": key} if key else {}
        return dspy.LM(spec.spec, api_base=spec.api_base, **extra, **kwargs)
    _check_keys(spec.spec)
    return dspy.LM(spec.spec, **kwargs)


def _check_keys(model: str) -> None:
    import litellm

    try:
        env = litellm.validate_environment(model=model)
    except Exception:  # unknown provider: leave the verdict to the probe call
        return
    missing = env.get("missing_keys") or []
    if missing:
        raise UserError(f"model {model} needs {', '.join(missing)} in the environment: export it and rerun")


def probe(lm) -> None:
    """One tiny uncached call, no retries: an unreachable endpoint or a refused key fails here, before any work."""
    quiet = logging.getLogger("dspy.clients.lm")
    level, quiet.level = quiet.level, logging.ERROR  # a 1-token reply is "truncated" by design
    try:
        lm.copy(cache=False, num_retries=0, max_tokens=1)(messages=[{"role": "user", "content": "Say OK."}])
    except UserError:
        raise
    except Exception as exc:
        where = f" at {lm.kwargs.get('api_base')}" if lm.kwargs.get("api_base") else ""
        detail = first_line(exc)
        raise UserError(
            f"model {lm.model}{where} did not answer ({type(exc).__name__}: {detail}): check --model, --api-base "
            f"and that the server is running"
        ) from None
    finally:
        quiet.level = level


class _CappedReplies(logging.Filter):
    """Programs cap their outputs on purpose (a query, a short answer): DSPy's warning at every capped reply would
    bury the progress bars. A reply that the cap leaves unparseable still fails loudly, as a parse error."""

    def filter(self, record):
        return "response was truncated" not in record.getMessage()


def _hide_truncation_warnings() -> None:
    quiet = logging.getLogger("dspy.clients.lm")
    if not any(isinstance(f, _CappedReplies) for f in quiet.filters):
        quiet.addFilter(_CappedReplies())


def models_label(task_spec: ModelSpec, agent_specs: dict[str, ModelSpec] | None = None) -> str:
    """The task model's label plus each agent on its own model: `<task>+writer=<model>`, the artifact folder."""
    return task_spec.label + "".join(f"+{agent}={s.label}" for agent, s in sorted((agent_specs or {}).items()))


@dataclass
class LMPair:
    """The task model runs the program; the prompt model proposes, reflects and judges inside optimizers; agents
    named with `--agent-model AGENT=MODEL` run on their own model."""

    task: object
    prompt: object
    task_spec: ModelSpec
    prompt_spec: ModelSpec
    agent_specs: dict = field(default_factory=dict)  # agent name -> ModelSpec
    agent_lms: dict = field(default_factory=dict)  # agent name -> dspy.LM

    @property
    def label(self) -> str:
        return models_label(self.task_spec, self.agent_specs)

    def agent_models(self) -> dict[str, str]:
        return {agent: s.spec for agent, s in self.agent_specs.items()}


def configure(model: str = LOCAL, prompt_model: str | None = None, api_base: str | None = None,
              prompt_api_base: str | None = None, check: bool = True,
              agent_models: dict[str, str] | None = None) -> LMPair:
    """Build the LMs, probe them, and make the task model DSPy's default."""
    import dspy

    task_spec = ModelSpec(model, api_base)
    prompt_spec = ModelSpec(prompt_model, prompt_api_base or api_base) if prompt_model else task_spec
    # An agent's model is a packaged/local model or a hosted LiteLLM string (no --api-base of its own).
    agent_specs = {agent: ModelSpec(spec) for agent, spec in (agent_models or {}).items()}
    built = {task_spec: make_lm(task_spec)}
    for spec in (prompt_spec, *agent_specs.values()):
        if spec not in built:
            built[spec] = make_lm(spec)
    if check:
        for one in built.values():
            probe(one)
    task, prompt = built[task_spec], built[prompt_spec]
    # The ChatAdapter's silent JSON retry would hide the real parse-failure rate and double the cost of a failure.
    from lm.outage import OutageGuard

    callbacks = [c for c in dspy.settings.callbacks if not isinstance(c, OutageGuard)] + [OutageGuard()]
    _hide_truncation_warnings()
    from lm.adapter import PrefillChatAdapter

    dspy.configure(lm=task, track_usage=True, adapter=PrefillChatAdapter(use_json_adapter_fallback=False),
                   callbacks=callbacks)
    return LMPair(task, prompt, task_spec, prompt_spec, agent_specs,
                  {agent: built[spec] for agent, spec in agent_specs.items()})
