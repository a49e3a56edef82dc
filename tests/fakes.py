"""A scripted LM for fast tests of whole flows (compile, optimizers, serving) without a model.

It answers researcher_writer's predictors from the question in the prompt: correctly for every other fixture
question and wrongly for the rest, so optimizers meet both successes and failures. Any other prompt (an
optimizer's proposer, a judge) gets a fixed reply for every field those signatures use.
"""

import re

import dspy
from dspy.utils.callback import with_callbacks

GENERIC = {
    "proposed_instruction": "Answer with the shortest span from the passages.",
    "observations": "Short factual questions.",
    "summary": "Short factual questions.",
    "program_description": "A researcher and a writer.",
    "module_description": "Answers questions.",
    "better": "A",  # a judge's verdict
    "score": 0.2,  # inferred feedback, attribution and rewrite (the trajectory optimizer)
    "problem": "The answer was wrong.",
    "responsible": '["writer.write"]',
    "reasons": "The writer should copy the shortest span.",
    "added_sentence": "Copy the answer exactly as written in the passages.",
}


class ScriptedLM(dspy.LM):
    def __init__(self, examples, correct_every: int = 2):
        super().__init__("scripted/test", cache=False)
        self.replies = {}
        for n, ex in enumerate(examples):
            right = n % correct_every == 0
            self.replies[ex.question] = {
                "next_query": "follow-up query",
                "answer": ex.answer if right else "unknown",
            }
        self.calls = 0
        self.fields_asked = []  # the output fields of each call: which predictors this LM served
        self.system_prompts = []  # each call's system message: which instructions reached the model

    @with_callbacks  # as dspy.LM's own: call meters and budgets count these calls
    def __call__(self, prompt=None, messages=None, **kwargs):
        self.calls += 1
        if messages and len(messages) == 1:  # a proposer's meta-prompt (OPRO, MASPO)
            return [f"[Answer with the shortest span from the passages, variant {kwargs.get('rollout_id')}.]"]
        system = messages[0]["content"] if messages else ""
        wanted = re.findall(r"`(\w+)`", system.split("Your output fields are:", 1)[-1].split("All interactions")[0])
        last = messages[-1]["content"] if messages else prompt or ""
        reply = next((r for q, r in self.replies.items() if q in last), {})
        self.fields_asked.append(tuple(wanted))
        self.system_prompts.append(system)
        fields = {k: reply.get(k, GENERIC.get(k, "ok")) for k in wanted}
        text = "\n\n".join(f"[[ ## {k} ## ]]\n{v}" for k, v in fields.items()) + "\n\n[[ ## completed ## ]]"
        return [text] * int(kwargs.get("n") or 1)

    def copy(self, **kwargs):
        return self


def scripted_lm(examples, correct_every: int = 2):
    return ScriptedLM(examples, correct_every)
