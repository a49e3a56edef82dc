"""Asking the prompt model for new instructions: the sampling and parsing shared by OPRO and MASPO.

Each sample gets its own `rollout_id`, so samples at temperature 1.0 differ from each other and each one is
still cached: a resumed compile replays the same proposals for free.
"""

from __future__ import annotations

import re

import dspy


def bracketed(text: str) -> str:
    """The last `[...]` span of at least 8 characters: proposals are asked for in square brackets."""
    found = re.findall(r"\[([^\[\]]{8,})\]", text or "")
    return (found[-1] if found else "").strip()


class Proposer:
    def __init__(self, lm=None, temperature: float = 1.0, max_tokens: int = 400):
        self.lm, self.temperature, self.max_tokens = lm, temperature, max_tokens
        self.samples = 0  # the rollout counter: distinct samples, reproducible across a resume

    def sample(self, prompt: str, n: int) -> list[str]:
        lm = self.lm or dspy.settings.lm
        texts = []
        for _ in range(n):
            self.samples += 1
            reply = lm(messages=[{"role": "user", "content": prompt}], temperature=self.temperature,
                       rollout_id=self.samples, max_tokens=self.max_tokens)[0]
            texts.append(reply if isinstance(reply, str) else reply.get("text", ""))
        return texts

    def instructions(self, prompt: str, n: int, exclude: set[str] = frozenset()) -> list[str]:
        """Up to n distinct new instructions (bracketed in the replies), none of them in `exclude`."""
        out = []
        for text in self.sample(prompt, n):
            instruction = bracketed(text)
            if instruction and instruction not in exclude and instruction not in out:
                out.append(instruction)
        return out
