"""A ChatAdapter that reads an optimizer's own one-field replies leniently.

DSPy's instruction proposers (MIPROv2's grounded proposer) ask the prompt model for one text field, such as
`proposed_instruction`, between `[[ ## field ## ]]` markers. A 0.5B prompt model often writes the instruction
without the markers, and DSPy then aborts the whole compile on the parse error. For signatures of DSPy's
`dspy.propose` package with a single text output, the reply's text itself is that field. Every other signature
(the program's own predictors included) is framed and parsed exactly as the project's adapter does
(lm/adapter.py): MIPROv2 must score candidates in the reply framing the program is evaluated and served in. (This
class used to extend plain ChatAdapter, so on the embedded models MIPROv2's trials ran unprefilled: the seed
program scored 0.447 on 15 dev questions in its trials where compile.py's baseline, prefilled, scored 0.380.)
"""

from __future__ import annotations

import re

from dspy.utils.exceptions import AdapterParseError

from lm.adapter import PrefillChatAdapter


def _is_proposer_signature(signature) -> bool:
    outputs = list(signature.output_fields.values())
    return (len(outputs) == 1 and outputs[0].annotation is str
            and (getattr(signature, "__module__", "") or "").startswith("dspy.propose"))


class LenientProposalAdapter(PrefillChatAdapter):
    def __init__(self):
        super().__init__(use_json_adapter_fallback=False)

    def parse(self, signature, completion: str):
        try:
            return super().parse(signature, completion)
        except AdapterParseError:
            if not _is_proposer_signature(signature):
                raise
            text = re.sub(r"\[\[ ## \w+ ## \]\]", "", completion or "").strip()
            if not text:
                raise
            return {next(iter(signature.output_fields)): text}
