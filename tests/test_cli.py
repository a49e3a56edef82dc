"""The commands as a user runs them: bad input ends in one `error:` line and exit status 2, before any work."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env

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
