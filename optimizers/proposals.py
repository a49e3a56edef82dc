"""Asking the prompt model for new instructions: the sampling and parsing shared by OPRO and MASPO.

Each sample gets its own `rollout_id`, so samples at temperature 1.0 differ from each other and each one is
still cached: a resumed compile replays the same proposals for free.

With `tips`, each sample's prompt ends with a different style tip (MIPROv2's grounded proposer draws one per
proposal the same way). Without them a 1.5B prompt model paraphrases the instruction it was shown: OPRO's
researcher_writer trajectory at 600 calls was paraphrases of the program's docstring, while MIPROv2's proposals,
which differed in kind, found a better writer instruction at the same budget (README, Results).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

import dspy


TIPS = (
    "",
    "Keep the instruction short and plain.",
    "Be creative: take an approach none of the instructions above takes.",
    "Make the instruction precise: say exactly what a good output looks like and what to avoid.",
    'Begin the instruction with a persona that fits the task ("You are a ...").',
    "Look at the cases where the program failed and write an instruction that would have avoided them.",
    "Make the instruction different in wording and structure from the ones above.",
)


def bracketed(text: str) -> str:
    """The last `[...]` span of at least 8 characters: proposals are asked for in square brackets."""
    found = re.findall(r"\[([^\[\]]{8,})\]", text or "")
    return (found[-1] if found else "").strip()


# The longest reply read as an instruction when it has no brackets. Without this, 28 of 36 dropped samples of a
# 1.5B proposer were dropped for their missing brackets alone (bench/proposal_quality.py), OPRO's "… the shortest
# span from the given passages" among them; its long unbracketed replies were rambles repeating one sentence.
PLAIN_WORDS = 80
_LABEL = re.compile(r"(?i)^(?:here is |here's )?(?:the |a |my )?(?:new |improved |updated |revised )?"
                    r"(?:instruction|sentence|rule)(?: is)?\s*:\s*")
_QUOTES = "\"'“”‘’`"


def proposed(text: str) -> str:
    """The instruction a proposer's reply gives. The `bracketed` span where there is one, as asked; else the
    proposer wrote it plainly, as a 1.5B proposer often does: an opening bracket never closed, the quoted text after
    a label ('The new sentence is: "…"'), or the whole reply when it is at most `PLAIN_WORDS` words (less a leading
    "New instruction:" and its quotes). Empty when none of these is there."""
    if found := bracketed(text):
        return found
    plain = " ".join((text or "").split())
    if unclosed := re.search(r"\[([^\[\]]{8,})$", plain):
        plain = unclosed.group(1)
    elif labelled := re.fullmatch(r"[^\"“]{0,120}?:\s*[\"“]([^\"“”]{8,})[\"”]\.?", plain):
        return labelled.group(1).strip()
    plain = _LABEL.sub("", plain).strip(_QUOTES + " ")
    if plain.endswith(":"):  # "Here is the new instruction:" and nothing after it
        return ""
    return plain if len(plain.split()) <= PLAIN_WORDS else ""


def near_copy(a: str, b: str, threshold: float = 0.95) -> bool:
    """The same text up to spacing, case and a few characters: small models often return what they were shown."""
    norm_a, norm_b = (" ".join(t.lower().split()) for t in (a, b))
    return norm_a == norm_b or difflib.SequenceMatcher(None, norm_a, norm_b).ratio() >= threshold


def program_description(student, given: str | None = None) -> str:
    """What the program does, as prompt models are told: the task description given, else the program's docstring
    (or its class name), each paragraph on one line: a docstring's line breaks are its source's wrapping, and a
    prompt cut at its first line break ended MASPO's goal at "… then the Writer", before "answers with the
    shortest span from them"."""
    text = given or type(student).__doc__ or type(student).__name__
    return "\n\n".join(" ".join(par.split()) for par in re.split(r"\n\s*\n", text.strip()))


def why_unusable(instruction: str, fields=None, program: str | None = None, inputs=()) -> str | None:
    """Not an instruction for this step: one word (a 1.5B proposer answered with the step's name,
    `[writer.write]`), a field named in backticks that the step does not have (DSPy's default instructions name
    fields so, and given one, a 1.5B proposer extended it with `confidence` and `feedback` fields the step cannot
    produce), a reply in the step's own format, led by one of its field names ("next_query: the earliest year
    Jack Joyce founded the second brewpub", which label-free MASPO accepted as researcher_writer's researcher
    instruction), or a restatement of the whole `program`'s description, given for a step of a multi-step program
    (2 of 6 researcher_writer researcher candidates, even with `step_role`; each measured at or below the seed),
    or one that quotes one of the example `inputs` the proposer was shown (a MASPO writer candidate "Answer the
    question 'What do Nikos Nikolaidis and Roy Ward Baker have in common?'": -0.15 F1 on its minibatch), or any
    other text given among them (MASPO gives its meta-prompt's own wording). Returns why, or None if usable."""
    if len(instruction.split()) < 2:
        return "one word"
    if program and near_copy(instruction, program, 0.7):
        return "restates the program"
    if any(quotes(instruction, text) for text in inputs):
        return "quotes what it was shown"
    if fields is None:
        return None
    label = re.match(r"\s*(\w+)\s*:", instruction)
    if label is not None and label.group(1) in fields:
        return "written in the step's format"
    if any(name not in fields for name in re.findall(r"`(\w+)`", instruction)):
        return "names a field the step lacks"
    return None


def unusable(instruction: str, fields=None, program: str | None = None, inputs=()) -> bool:
    """Not an instruction for this step (`why_unusable` says why)."""
    return why_unusable(instruction, fields, program, inputs) is not None


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def quotes(instruction: str, text, min_words: int = 4, span: int = 6) -> bool:
    """The instruction contains the text (an example's input of `min_words` words or more), or `span` words of it
    in a row, case and punctuation aside: a MASPO writer candidate "return the name of the first book in the
    series based on a stealth video game series developed by the Danish company IO Interactive" restated one
    question (-0.125 F1 on its confirmation minibatch)."""
    if not isinstance(text, str) or len(text.split()) < min_words:
        return False
    said, asked = f" {' '.join(_words(instruction))} ", _words(text)
    n = min(span, len(asked))
    return any(f" {' '.join(asked[k:k + n])} " in said for k in range(len(asked) - n + 1))


def example_inputs(examples) -> list[str]:
    """The text inputs of examples, as `unusable` checks a proposal for quotes of them."""
    return [v for ex in examples for v in ex.inputs().values() if isinstance(v, str)]


def step_role(kind: str, name: str, signature) -> str:
    """What the proposer writes for: one step (an 'agent' for MASPO) of a program, read by that step alone. Shown
    the program's docstring, a 1.5B proposer put it into the step's instruction ("The Researcher gathers Wikipedia
    passages over two searches, then the Writer answers ..." in 8 of 17 researcher_writer candidates)."""
    outputs = ", ".join(signature.output_fields)
    return (f"You write the instruction of the {kind} '{name}'. It takes {', '.join(signature.input_fields)} and "
            f"produces {outputs}. The {kind} reads only its own instruction and inputs: say what it must do to "
            f"produce a good {outputs}, not what the whole program does.")


# How much of a step's received context (passages) a proposal prompt shows per case: about 400 tokens, the four
# passages researcher_writer's writer reads at k=2; three cases stay well inside a 4k context.
CONTEXT_CHARS = 1600


def fields_text(fields: dict, limit: int | None = 1200) -> str:
    """Fields as `name: value` lines for a prompt model, lists one numbered item per line (no square brackets:
    proposals are read from brackets), cut at `limit` characters."""
    lines = []
    for name, value in fields.items():
        if isinstance(value, (list, tuple)):
            lines.append(f"{name}:" + "".join(f"\n  {n}. {item}" for n, item in enumerate(value, 1)))
        else:
            lines.append(f"{name}: {value}")
    text = "\n".join(lines)
    return text if limit is None or len(text) <= limit else text[:limit] + " …"


def received_fields(step_inputs: dict, example) -> dict:
    """What a step received beyond the example's own inputs (the writer's passages, not the question again): the
    context a proposer needs to see why the step answered as it did."""
    own = example.inputs()
    return {k: v for k, v in step_inputs.items() if k not in own or own[k] != v}


def expected_fields(example) -> dict:
    """An example's gold outputs as shown to a prompt model: its scalar labels, without the `id` (bookkeeping: a
    small proposer copied `id: halueval-qa-1625` into a proposal as an instruction)."""
    return {k: v for k, v in example.labels().items() if k != "id" and isinstance(v, (str, int, float))}


class Proposer:
    def __init__(self, lm=None, temperature: float = 1.0, max_tokens: int = 400):
        self.lm, self.temperature, self.max_tokens = lm, temperature, max_tokens
        self.samples = 0  # the rollout counter: distinct samples, reproducible across a resume
        self.dropped: Counter[str] = Counter()  # samples not returned, by reason

    def sample(self, prompt: str, n: int, tips: bool = False) -> list[str]:
        lm = self.lm or dspy.settings.lm
        texts = []
        for _ in range(n):
            self.samples += 1
            tip = TIPS[self.samples % len(TIPS)] if tips else ""  # rotating: a step's samples get different tips
            content = f"{prompt}\n\n{tip}" if tip else prompt
            reply = lm(messages=[{"role": "user", "content": content}], temperature=self.temperature,
                       rollout_id=self.samples, max_tokens=self.max_tokens)[0]
            texts.append(reply if isinstance(reply, str) else reply.get("text", ""))
        return texts

    def instructions(self, prompt: str, n: int, exclude=frozenset(), extend: str | None = None,
                     tips: bool = False, fields=None, program: str | None = None, inputs=(),
                     max_words: int | None = None) -> list[str]:
        """Up to n new instructions (read from the replies by `proposed`), none a near copy of another or of
        `exclude`, none `unusable` for a step with these `fields` in a program so described, shown these example
        `inputs`, none longer than `max_words` words (the whole instruction, an extended one included).

        With `extend`, each reply is one sentence appended to that instruction (a minimal edit) instead of a
        whole new instruction."""
        out = []
        for text in self.sample(prompt, n, tips=tips):
            proposal = proposed(text)
            instruction = f"{extend.rstrip()} {proposal}" if extend is not None else proposal
            why = self._why_dropped(proposal, instruction, extend, fields, program, inputs, [*exclude, *out],
                                    max_words)
            if why:
                self.dropped[why] += 1
            else:
                out.append(instruction)
        return out

    @staticmethod
    def _why_dropped(proposal: str, instruction: str, extend, fields, program, inputs, taken,
                     max_words: int | None = None) -> str | None:
        """Why a sample's proposal is not returned (None: it is), in the order the filters apply."""
        if not proposal:
            return "no instruction found"
        if max_words is not None and len(instruction.split()) > max_words:
            return "too long"
        if extend is not None and near_copy(proposal, extend, 0.6):
            return "the instruction given back"  # instead of a sentence to add
        if why := why_unusable(proposal, fields, program, inputs):
            return why
        if any(near_copy(instruction, other) for other in taken):
            return "a near copy"
        return None
