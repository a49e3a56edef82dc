"""The commands as a user runs them: bad input ends in one `error:` line and exit status 2, before any work; an
interrupt ends in exit status 130 without running the examples still queued."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ctrl_c_enabled, subprocess_env, wait_for

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "eval.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env or subprocess_env())


def error_line(done):
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return lines[-1]


def test_wrong_program_name(tmp_path):
    done = run("--program", "reseacher_writer", "--tracking-uri", f"sqlite:///{tmp_path}/m.db")
    assert done.returncode == 2
    assert error_line(done) == ("error: unknown program 'reseacher_writer': choose one of hallucination, "
                                "researcher_writer, or pass path/to/file.py:Name or package.module:Name")
    assert not (tmp_path / "m.db").exists(), "no run is opened for bad input"


def test_malformed_dataset_row(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"knowledge": "k.", "question": "q?", "right_answer": "a"}) + "\n"
                   + json.dumps({"knowledge": "k.", "question": "", "right_answer": "a"}) + "\n")
    done = run("--limit", "1", env=subprocess_env(LMCOMPILE_HOTPOTQA_FILE=bad, LMCOMPILE_CACHE=tmp_path / "c"))
    assert done.returncode == 2
    assert error_line(done).startswith("error: 1 malformed rows in")
    assert "row 2 (question missing or empty)" in error_line(done)


def test_unreachable_model_and_the_key_is_never_printed(tmp_path):
    done = run("--model", "openai/my-model", "--api-base", "http://127.0.0.1:9/v1", "--limit", "1",
               "--tracking-uri", f"sqlite:///{tmp_path}/m.db",
               env=subprocess_env(LMCOMPILE_HOTPOTQA_FILE=ROOT / "tests/fixtures/hotpotqa_sample.jsonl",
                                  LMCOMPILE_CACHE=tmp_path / "c", OPENAI_API_KEY="sk-SENTINEL-4242"))
    assert done.returncode == 2
    assert error_line(done).startswith("error: model openai/my-model at http://127.0.0.1:9/v1 did not answer")
    assert "SENTINEL" not in done.stdout + done.stderr


def test_an_unknown_program_option_names_the_ones_there_are(tmp_path):
    done = run("--program-option", "topk=2", "--tracking-uri", f"sqlite:///{tmp_path}/m.db")
    assert done.returncode == 2
    assert error_line(done) == "error: program researcher_writer has no option 'topk': its options are hops, k, plain"
    assert not (tmp_path / "m.db").exists()


def test_program_options_are_read_as_json_values_or_strings():
    import argparse

    import cli
    from runtime import UserError

    args = argparse.Namespace(program_option=["k=2", "hops=3", "style=terse", "strict=true"])
    assert cli.program_options(args) == {"k": 2, "hops": 3, "style": "terse", "strict": True}
    for bad, message in ((["k"], "is not NAME=VALUE"), (["k=2", "k=3"], "names 'k' twice")):
        try:
            cli.program_options(argparse.Namespace(program_option=bad))
        except UserError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{bad} must be refused")


# Twenty slow examples on two threads, each writing its name to a file as it starts, behind cli.main_guard (as
# compile.py and eval.py run): in eval.py's runner, and in the DSPy executor that optimizers' scorings use.
SLOW_EXAMPLES = """
import sys, time
import dspy
from cli import main_guard

started = sys.argv[2]

class Slow(dspy.Module):
    def forward(self, question):
        with open(started, "a") as f:
            f.write(question + "\\n")
        time.sleep(1)
        return dspy.Prediction(answer="a")

@main_guard
def main():
    examples = [dspy.Example(question=str(i), answer="a").with_inputs("question") for i in range(20)]
    if sys.argv[1] == "evaluate":
        from evaluation.runner import evaluate
        evaluate(Slow(), examples, {"em": lambda ex, pred: 1.0}, threads=2, progress=False)
    else:
        from optimizers.replay import run_all
        run_all(Slow(), examples, lambda ex, pred, trace=None: 1.0, jobs=2)

main()
"""


@pytest.mark.parametrize("runner", ["evaluate", "run_all"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupt_drops_the_queued_examples(tmp_path, runner, sig):
    started = tmp_path / "started.txt"
    with open(tmp_path / "log.txt", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-c", SLOW_EXAMPLES, runner, str(started)], cwd=ROOT, stderr=log,
                                env=subprocess_env(PYTHONPATH=ROOT), preexec_fn=ctrl_c_enabled)
        wait_for(lambda: started.exists(), 60, "the first example", proc, log)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 130
        # Those under way finish (two threads, and one more may have been picked up as the signal came); before, a
        # kill or Ctrl-C in eval.py ran all 20 first.
        assert len(started.read_text().split()) <= 4
        log.seek(0)
        assert log.read().strip().splitlines()[-1].startswith("interrupted:")
