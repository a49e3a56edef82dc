"""MLflow plumbing: a local SQLite store by default, one experiment per program, DSPy traces via autolog."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import runtime  # noqa: F401  (offline defaults before mlflow is imported)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STORE = PROJECT_ROOT / "mlflow.db"
DEFAULT_ARTIFACTS = PROJECT_ROOT / "mlruns"


def default_tracking_uri() -> str:
    # MLflow 3's file:// store is in maintenance mode; SQLite is the supported local backend.
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_STORE}"


def setup(experiment: str, tracking_uri: str | None = None, traces: bool = True) -> str:
    """Point MLflow at the store, select (or create) the experiment, and turn on DSPy tracing."""
    import logging

    import mlflow

    # MLflow and Alembic narrate store creation and trace flushing at INFO: noise for a CLI user.
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking_uri or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        location = DEFAULT_ARTIFACTS.as_uri() if uri.startswith("sqlite:") else None
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    if traces:
        mlflow.dspy.autolog(log_traces=True, silent=True)
    return uri


@contextmanager
def run(name: str, *, tags: dict | None = None, nested: bool = False, run_id: str | None = None,
        description: str | None = None):
    """An MLflow run that always ends: FINISHED on success, KILLED on Ctrl-C, FAILED on any other error.
    With `run_id`, an earlier (interrupted) run is reopened and continued. `description` is the run's note in the UI."""
    import mlflow

    if run_id:
        active = mlflow.start_run(run_id=run_id)
    else:
        active = mlflow.start_run(run_name=name, tags=tags, nested=nested, description=description or None)
    try:
        yield active
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")


def log_json(obj, artifact_file: str) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        path.write_text(json.dumps(obj, indent=2, default=str))
        mlflow.log_artifact(str(path), artifact_path=str(Path(artifact_file).parent) if "/" in artifact_file else None)


def flush_traces() -> None:
    """Wait for the async trace writer, so a short-lived CLI process does not exit with traces unwritten."""
    try:
        import mlflow

        mlflow.flush_trace_async_logging()
    except Exception:  # noqa: BLE001  (older MLflow, or nothing pending)
        pass


PINNED = ("dspy", "mlflow", "optuna", "datasets", "litellm", "bm25s", "xllamacpp")


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PINNED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def register_program(program, name: str, run_id: str, manifest: dict, alias: str | None = None,
                     description: str = "") -> str:
    """Log the program with MLflow's DSPy flavor and register it as a new version of the model `name`, whose
    description (shown on the registered model's page) is the program's.

    MLflow's DSPy flavor stores a cloudpickle (MLflow itself refuses to load it unless
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION is set). This project's loader never reads it: `load_compiled` fetches the
    JSON artifact logged with the same run. Tags carry the model and scores so an alias can be chosen from the UI.
    """
    import dspy
    import mlflow
    from mlflow import MlflowClient

    requirements = [f"{k}=={v}" for k, v in package_versions().items() if k in ("dspy", "mlflow", "bm25s")]
    with dspy.context(callbacks=[]):  # the pickle must not capture this process's trackers
        info = mlflow.dspy.log_model(program, name="program", registered_model_name=name,
                                     pip_requirements=requirements)
    client = MlflowClient()
    version = str(info.registered_model_version)
    if description:
        client.update_registered_model(name, description=description)
    target = manifest["target_metric"]
    tags = {"task_model": manifest["task_model"], "optimizer": manifest["optimizer"],
            **{f"agent_model.{agent}": m for agent, m in (manifest.get("agent_models") or {}).items()},
            "artifact_id": manifest["artifact_id"], "content_sha256": manifest["content_sha256"],
            f"baseline_dev_{target}": f"{manifest['scores']['baseline_dev'][target]['mean']:.4f}",
            f"compiled_dev_{target}": f"{manifest['scores']['compiled_dev'][target]['mean']:.4f}"}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return f"{name}/{version}"
