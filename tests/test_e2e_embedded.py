"""End to end with the real embedded LM (Qwen2.5-Coder-0.5B on llama.cpp), real HotPotQA rows, a real MLflow store.

A handful of LM calls: two questions through the 3-call program, once cold and once from the LM cache, and one
run interrupted with Ctrl-C.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from tests.conftest import ctrl_c_enabled, HOTPOT_SAMPLE, subprocess_env, wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


@pytest.fixture
def workspace(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = subprocess_env(LMCOMPILE_HOTPOTQA_FILE=HOTPOT_SAMPLE, DSPY_CACHEDIR=tmp_path / "dspy-cache",
                         MLFLOW_TRACKING_URI=uri)
    return uri, env


def eval_json(env, *extra):
    done = subprocess.run([sys.executable, "eval.py", "--json", "--split", "test", "--limit", "2", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_eval_with_the_embedded_lm_logs_to_mlflow_and_caches(workspace):
    uri, env = workspace
    cold = eval_json(env)
    assert {"program", "model", "split", "n", "metrics", "lm_calls", "tokens", "wall_s", "lm_s"} <= set(cold)
    assert cold["program"] == "researcher_writer" and cold["model"] == "local" and cold["n"] == 2
    assert set(cold["metrics"]) == {"f1", "em", "recall", "fresh_queries"}
    for m in cold["metrics"].values():
        assert m["ci_low"] <= m["mean"] <= m["ci_high"]
    assert cold["lm_calls"] >= 2 * 2 and cold["cache_hits"] == 0  # at least a hop and the writer per question
    assert cold["tokens"]["prompt"] > 0 and cold["lm_s"] > 0
    assert cold["metrics"]["recall"]["mean"] > 0  # BM25 with the question finds gold paragraphs

    warm = eval_json(env)
    assert warm["cache_hits"] == warm["lm_calls"] == cold["lm_calls"]
    assert warm["metrics"] == cold["metrics"]
    assert warm["wall_s"] < cold["wall_s"] / 5

    mlflow.set_tracking_uri(uri)
    run = mlflow.get_run(cold["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["split"] == "test" and run.data.params["test_fingerprint"] == cold["fingerprint"]
    assert run.data.metrics["f1"] == pytest.approx(cold["metrics"]["f1"]["mean"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"examples.json", "examples_with_traces.json", "report.json"} <= artifacts
    traces = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    assert len(traces) >= 2, "one DSPy trace per example"


def test_ctrl_c_marks_the_run_killed_and_exits_130(workspace, tmp_path):
    uri, env = workspace
    log = open(tmp_path / "eval.log", "w+")
    proc = subprocess.Popen([sys.executable, "eval.py", "--split", "test", "--limit", "4"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=ctrl_c_enabled)
    mlflow.set_tracking_uri(uri)
    running = wait_for(lambda: mlflow.search_runs(search_all_experiments=True, output_format="list",
                                                  filter_string="attributes.status = 'RUNNING'"),
                       240, "the evaluation run", proc, log)
    time.sleep(3)  # inside the LM calls now
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    log.seek(0)
    err = log.read()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err.strip().splitlines()[-1]
    assert mlflow.get_run(running[0].info.run_id).info.status == "KILLED"
