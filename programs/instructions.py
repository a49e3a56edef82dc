"""A program with some predictors' instructions replaced: what every instruction optimizer ships, and what a
hand edit is (`eval.py --instructions edits.json` measures one against the program as declared)."""

from __future__ import annotations

import json
from pathlib import Path

from runtime import UserError


def instructions_of(program) -> dict[str, str]:
    """Each predictor's instruction, by predictor name."""
    return {name: predictor.signature.instructions for name, predictor in program.named_predictors()}


def with_instructions(program, instructions: dict[str, str]):
    """A copy of `program` whose named predictors follow `instructions`; the others keep theirs."""
    names = [name for name, _ in program.named_predictors()]
    unknown = sorted(set(instructions) - set(names))
    if unknown:
        raise UserError(f"no predictor named {', '.join(map(repr, unknown))} in {type(program).__name__}: its "
                        f"predictors are {', '.join(names)}")
    copy = program.deepcopy()
    for name, predictor in copy.named_predictors():
        if name in instructions:
            predictor.signature = predictor.signature.with_instructions(instructions[name])
    return copy


def read_instructions(path: str | Path) -> dict[str, str]:
    """A JSON object of predictor name -> instruction text (data only: nothing in it is executed)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist: pass a JSON file of predictor name -> instruction") from None
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}): pass a JSON file of predictor name -> instruction") \
            from None
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}): write an object such as "
                        f'{{"writer.write": "Answer with ..."}}') from None
    if not isinstance(data, dict) or not data or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                         for k, v in data.items()):
        raise UserError(f"{path} must be a JSON object of predictor name -> non-empty instruction text, such as "
                        f'{{"writer.write": "Answer with ..."}}')
    return data
