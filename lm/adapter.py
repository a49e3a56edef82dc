"""DSPy's ChatAdapter, minus the generated tokens nothing reads, on servers that allow it.

On a CPU a generated token costs what about five read ones do, and ChatAdapter's reply framing
(`[[ ## answer ## ]]` before the value, `[[ ## completed ## ]]` after it) is generated on every call: as much as a
short answer itself. On an LM that continues a prefilled assistant message (llama.cpp's server, so the embedded
models) the first field's header is prefilled instead of generated, and a one-field reply stops at the next
header's opening brackets: 30% fewer generated tokens on researcher_writer. Prompts and parsing are ChatAdapter's.
The model mostly writes the same value, but not always: the prefilled header is tokenized as text, which need not
match the tokens the model would have generated (`bench/reply_framing.py` measures both effects). Other LMs get
plain ChatAdapter; LMCOMPILE_PREFILL=0 turns it off.
"""

from __future__ import annotations

import contextvars

import dspy

# The header prefilled for the call in progress, None when the LM does not continue prefills (per call: the
# adapter is shared by threads).
_prefill = contextvars.ContextVar("prefill", default=None)


def header(field: str) -> str:
    return f"[[ ## {field} ## ]]\n"


class PrefillChatAdapter(dspy.ChatAdapter):
    def __call__(self, lm, lm_kwargs, signature, demos, inputs):
        if not getattr(lm, "continues_prefill", False):
            return super().__call__(lm, lm_kwargs, signature, demos, inputs)
        if len(signature.output_fields) == 1:
            # Stop where the closing marker starts; several fields keep the full marker as their stop.
            lm_kwargs = {**lm_kwargs, "stop": ["\n\n[["]}
        token = _prefill.set(header(next(iter(signature.output_fields))))
        try:
            return super().__call__(lm, lm_kwargs, signature, demos, inputs)
        finally:
            _prefill.reset(token)

    def format(self, signature, demos, inputs):
        messages = super().format(signature, demos, inputs)
        if _prefill.get():
            messages.append({"role": "assistant", "content": _prefill.get()})
        return messages

    def parse(self, signature, completion):
        first = _prefill.get()
        # llama.cpp returns the prefill with the continuation; other servers may return the continuation only.
        if first and not completion.startswith(first.strip()):
            completion = first + completion
        return super().parse(signature, completion)
