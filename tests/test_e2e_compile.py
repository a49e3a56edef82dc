"""compile.py end to end with the real embedded LM: interrupted with Ctrl-C, resumed, then served over HTTP.

Small on purpose (6 training and 2 validation questions from the fixture): a few dozen LM calls.
"""

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import pytest

from tests.conftest import ctrl_c_enabled, HOTPOT_SAMPLE, subprocess_env, wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e
ARGS = ["--train-size", "6", "--val-size", "2"]


def test_interrupt_resume_and_serve(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = subprocess_env(LMCOMPILE_HOTPOTQA_FILE=HOTPOT_SAMPLE, DSPY_CACHEDIR=tmp_path / "dspy-cache",
                         MLFLOW_TRACKING_URI=uri, LMCOMPILE_ARTIFACTS=tmp_path / "artifacts")
    mlflow.set_tracking_uri(uri)

    # 1. Ctrl-C once the optimizer is under way (the baseline evaluation has finished).
    log = open(tmp_path / "compile.log", "w+")  # a file, not a pipe: tqdm output would fill a pipe nobody reads
    proc = subprocess.Popen([sys.executable, "compile.py", *ARGS], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=log, text=True, preexec_fn=ctrl_c_enabled)
    baseline = wait_for(lambda: mlflow.search_runs(search_all_experiments=True, output_format="list",
                                                   filter_string="attributes.run_name = 'baseline-dev' and "
                                                                 "attributes.status = 'FINISHED'"), 400, "the baseline",
                        proc, log)
    # ... and one training example has been bootstrapped (its LM calls are cached): a fixed sleep was not enough
    # when another job shared the 2 cores.
    def optimizing_step_done():
        text = (tmp_path / "compile.log").read_text()
        return re.search(r"\| *[1-9]\d*/\d+ \[", text.split("Optimizing with", 1)[-1]) if "Optimizing with" in text \
            else None

    wait_for(optimizing_step_done, 400, "a first optimizer step", proc, log)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    log.seek(0)
    err = log.read()
    assert proc.returncode == 130, err[-2000:]
    assert "rerun with --resume" in err.strip().splitlines()[-1]
    parent_id = baseline[0].data.tags["mlflow.parentRunId"]
    assert mlflow.get_run(parent_id).info.status == "KILLED"
    model_dir = tmp_path / "artifacts" / "researcher_writer" / "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert [p.name for p in model_dir.iterdir()] == [".inflight"], "no artifact from an interrupted compile"

    # 2. --resume continues the same MLflow run; the calls made before the interrupt come from the cache.
    done = subprocess.run([sys.executable, "compile.py", "--resume", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["mlflow_run_id"] == parent_id
    assert mlflow.get_run(parent_id).info.status == "FINISHED"
    assert result["usage"]["optimizer_cache_hits"] > 0
    assert not list((model_dir / ".inflight").iterdir())
    manifest = json.loads((Path(result["artifact"]) / "manifest.json").read_text())
    assert manifest["task_model"] == "local" and manifest["splits"]["train_size"] == 6

    # 3. Serve the artifact over HTTP and ask it a question.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "serve.py", result["artifact"], "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for(lambda: json.loads(urllib.request.urlopen(f"{base}/health", timeout=5).read()), 120,
                          "the server")
        assert health["artifact_id"] == manifest["artifact_id"]
        question = json.loads(HOTPOT_SAMPLE.read_text().splitlines()[0])["question"]
        request = urllib.request.Request(f"{base}/predict", data=json.dumps({"question": question}).encode(),
                                         headers={"content-type": "application/json"})
        reply = json.loads(urllib.request.urlopen(request, timeout=180).read())
        assert isinstance(reply["answer"], str) and reply["answer"].strip()
        assert reply["retrieved_ids"], "the served program retrieves from the corpus"
    finally:
        server.terminate()
        server.wait(timeout=30)
