import os
import signal
import time
from pathlib import Path

import pytest

import runtime  # noqa: F401  (offline defaults before dspy/mlflow import)

FIXTURES = Path(__file__).parent / "fixtures"
HOTPOT_SAMPLE = FIXTURES / "hotpotqa_sample.jsonl"


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A private project cache (data, BM25 indexes) for tests that build things."""
    monkeypatch.setenv("LMCOMPILE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def hotpot_sample(monkeypatch):
    """researcher_writer reads the 24-row fixture instead of the 10,000-row benchmark."""
    from programs import researcher_writer

    monkeypatch.setenv("LMCOMPILE_HOTPOTQA_FILE", str(HOTPOT_SAMPLE))
    researcher_writer._task.cache_clear()
    yield HOTPOT_SAMPLE
    researcher_writer._task.cache_clear()


@pytest.fixture
def dummy_lm():
    """Configure DSPy with a DummyLM answering from the given list of field dicts."""
    import dspy
    from dspy.utils.dummies import DummyLM

    def make(answers):
        lm = DummyLM(answers)
        dspy.configure(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False), track_usage=True)
        return lm

    yield make
    dspy.configure(lm=None)


def ctrl_c_enabled():
    """Popen preexec_fn: Ctrl-C as a terminal delivers it. A shell starts background jobs (`pytest … &`) with
    SIGINT ignored and children inherit that, so without this the interrupt tests would fail there."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def subprocess_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def wait_for(predicate, timeout, what, proc=None, log=None):
    """Poll until `predicate()` is truthy; fail at once if `proc` exits first (with the tail of its `log`)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            log.seek(0)
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}: {log.read()[-3000:]}")
        try:
            value = predicate()
        except Exception:  # noqa: BLE001  (the store or server is not up yet)
            value = None
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")
