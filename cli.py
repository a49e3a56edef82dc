"""Command-line plumbing shared by compile.py and eval.py: common flags, and turning errors into one clean line."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import sys
import threading

from data.splits import SplitSizes
from runtime import UserError


def add_common_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("program and data")
    g.add_argument("--program", default="researcher_writer",
                   help="a registered program, or path/to/file.py:Name, or package.module:Name")
    g.add_argument("--program-option", action="append", default=[], metavar="NAME=VALUE",
                   help="a keyword argument of the program's build, e.g. k=2 (repeatable; JSON values: 2, true)")
    g.add_argument("--seed", type=int, default=0, help="seed of the data splits (0 is a seed like any other)")
    g.add_argument("--train-size", type=int, default=SplitSizes.train)
    g.add_argument("--dev-size", type=int, default=SplitSizes.dev)
    g.add_argument("--test-size", type=int, default=SplitSizes.test)
    m = parser.add_argument_group("models")
    m.add_argument("--model", default="local",
                   help="task model: 'local' (embedded Qwen2.5-Coder-0.5B), 'local:/path/model.gguf', "
                        "or a LiteLLM string such as openai/gpt-4o-mini")
    m.add_argument("--prompt-model", default=None,
                   help="model that proposes, reflects and judges inside optimizers (default: the task model)")
    m.add_argument("--api-base", default=None, help="OpenAI-compatible endpoint of the task model (vLLM, Ollama…)")
    m.add_argument("--prompt-api-base", default=None, help="endpoint of the prompt model (default: --api-base)")
    m.add_argument("--agent-model", action="append", default=[], metavar="AGENT=MODEL",
                   help="run one agent of a multi-agent program on its own model, e.g. writer=local-1.5b "
                        "(repeatable; the other agents keep --model)")
    m.add_argument("--threads", type=int, default=1,
                   help="examples run in parallel (1 on a 2-core CPU; raise it for a GPU server or hosted API)")
    t = parser.add_argument_group("tracking and output")
    t.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: sqlite:///mlflow.db here)")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout, nothing else")


def _assignments(items, flag: str, metavar: str, example: str) -> dict[str, str]:
    """Repeated `flag NAME=VALUE` items -> {name: value}; malformed or repeated names fail with one line."""
    chosen = {}
    for item in items or []:
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not name or not value:
            raise UserError(f"{flag} {item!r} is not {metavar}: write e.g. {flag} {example}")
        if name in chosen:
            raise UserError(f"{flag} names {name!r} twice: give it once")
        chosen[name] = value
    return chosen


def agent_models(args) -> dict[str, str]:
    """--agent-model AGENT=MODEL flags -> {agent: model spec}."""
    return _assignments(getattr(args, "agent_model", None), "--agent-model", "AGENT=MODEL", "writer=local-1.5b")


def program_options(args) -> dict:
    """--program-option NAME=VALUE flags -> {name: value}; a value that parses as JSON (2, 0.5, true) is read so."""
    raw = _assignments(getattr(args, "program_option", None), "--program-option", "NAME=VALUE", "k=2")
    return {name: _json_or_text(value) for name, value in raw.items()}


def _json_or_text(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def split_sizes(args) -> SplitSizes:
    return SplitSizes(train=args.train_size, dev=args.dev_size, test=args.test_size)


@contextlib.contextmanager
def quiet_stdout(enabled: bool):
    """With --json, stdout carries one JSON object only: anything libraries print goes to stderr meanwhile."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _terminate(signum, frame):
    """A plain `kill` ends like Ctrl-C: runs closed, nothing half-written. It goes through the SIGINT handler in
    force, not straight to KeyboardInterrupt: DSPy's parallel executor (optimizers' scorings with --threads above
    1) installs one that cancels its queued jobs, and without it every queued example still ran before the process
    could exit (tests/test_cli.py). An LM call under way finishes first either way: a handler runs between Python
    steps, not inside llama.cpp's C code."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    raise KeyboardInterrupt  # SIGINT ignored (a background job), or a handler that did not raise


def main_guard(fn=None, *, resume_hint: str = ""):
    """Bad input and unusable models end as `error: ...` on stderr with exit 2; Ctrl-C or SIGTERM as exit 130."""
    if fn is None:
        return functools.partial(main_guard, resume_hint=resume_hint)

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        from lm.outage import LMOutage

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _terminate)
        try:
            return fn(*a, **kw)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except LMOutage as exc:
            print(f"error: {exc}: check the model server{resume_hint}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print(f"interrupted: nothing was overwritten; the MLflow run is marked KILLED{resume_hint}",
                  file=sys.stderr)
            sys.exit(130)

    return wrapper


def command(parse_args, run, print_report, *, resume_hint: str = ""):
    """The `main()` of a script: parse, run (stdout kept clean with --json), then print JSON or the report."""

    @main_guard(resume_hint=resume_hint)
    def main(argv=None) -> dict:
        args = parse_args(argv)
        with quiet_stdout(args.json):
            result = run(args)
        if args.json:
            print(json.dumps(result))
        else:
            print_report(result)
        return result

    return main
