"""Loading a compiled program in production: one call, no pickle, hash-checked.

    from compiled import load_compiled
    program = load_compiled("artifacts/researcher_writer/qwen2.5-coder-0.5b-instruct-q4_k_m/latest")
    program = load_compiled("models:/researcher_writer@production", model="openai/gpt-4o-mini")
    program(question="...").answer

The program's code comes from this project's registry (by the name in the manifest); the artifact supplies only
JSON state (instructions, demos), read after its sha256 matches the manifest. Nothing in an artifact is executed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from compiled.artifact import read_verified, resolve_dir
from runtime import UserError, first_line

ARTIFACT_PATH_IN_RUN = "artifact"  # where compile.py logs the artifact folder inside its MLflow run


def _download_registered(uri: str, tracking_uri: str | None) -> Path:
    """models:/<name>@<alias> or models:/<name>/<version> -> a local copy of the JSON artifact logged with it."""
    import mlflow
    from mlflow import MlflowClient

    import tracking

    mlflow.set_tracking_uri(tracking_uri or tracking.default_tracking_uri())
    client = MlflowClient()
    ref = uri[len("models:/"):]
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, number = ref.rsplit("/", 1)
            version = client.get_model_version(name, number)
    except Exception as exc:  # noqa: BLE001  (MlflowException: no such model, version or alias)
        raise UserError(f"{uri} is not in the model registry at {mlflow.get_tracking_uri()} "
                        f"({first_line(exc, 160)}): check the name and alias") from None
    local = tempfile.mkdtemp(prefix="compiled-")
    return Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=ARTIFACT_PATH_IN_RUN,
                                                     dst_path=local))


def _field_prefixes(signature) -> list[str]:
    return [f.json_schema_extra["prefix"] for f in signature.fields.values()]


def check_fits(program, state: dict, name: str) -> None:
    """Refuse state compiled for another version of the program's code (other predictors or fields): DSPy
    would load it silently and the program would run with prompts and demos written for other fields."""
    for pred_name, predictor in program.named_predictors():
        saved = state.get(pred_name)
        fields = [f.get("prefix") for f in (saved or {}).get("signature", {}).get("fields", [])]
        if saved is None or fields != _field_prefixes(predictor.signature):
            raise UserError(f"the artifact was compiled for another version of program {name!r} (predictor "
                            f"{pred_name!r} {'is missing' if saved is None else 'has other fields'}): recompile "
                            f"it with compile.py --program {name}")


def load_compiled(source: str, *, model: str | None = None, api_base: str | None = None,
                  agent_models: dict[str, str] | None = None, tracking_uri: str | None = None):
    """A ready program bound to the models it was compiled for: the task model and any agent compiled on its own
    model (`manifest["agent_models"]`). `model` rebinds the whole program to one model; `agent_models`
    ({"writer": "local-1.5b"}) chooses the agents' models instead of the manifest's."""
    import lm as lms
    import programs
    from programs.agents import agent_of, bind_agent_models

    folder = _download_registered(source, tracking_uri) if str(source).startswith("models:/") else resolve_dir(source)
    manifest = read_verified(folder)
    spec = programs.resolve(manifest["program"])
    program = spec.make(manifest.get("program_options"))  # the options it was compiled with (k=2, ...)
    state_file = folder / manifest["state_file"]
    check_fits(program, json.loads(state_file.read_text()), manifest["program"])
    program.load(str(state_file))  # JSON only: DSPy refuses .pkl unless told otherwise
    task_lm = lms.make_lm(lms.ModelSpec(model or manifest["task_model"],
                                        api_base if model else (api_base or manifest.get("api_base"))))
    if agent_models is None:
        agent_models = {} if model else manifest.get("agent_models") or {}
    bind_agent_models(program, dict.fromkeys(agent_models))  # unknown agent names fail with the known ones
    agent_lms = {agent: lms.make_lm(lms.ModelSpec(m)) for agent, m in agent_models.items()}
    # Per predictor: nothing will copy a loaded program, and a predictor's own LM is what DSPy uses first.
    for name, predictor in program.named_predictors():
        predictor.lm = agent_lms.get(agent_of(program, name), task_lm)
    program.manifest = manifest
    return program
