"""PrefillChatAdapter: the reply framing is prefilled and cut on LMs that continue a prefill, and only there."""

import dspy

from lm.adapter import PrefillChatAdapter


class Answer(dspy.Signature):
    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


class TwoFields(dspy.Signature):
    question: str = dspy.InputField()
    reasoning: str = dspy.OutputField()
    answer: str = dspy.OutputField()


class ServerLM(dspy.LM):
    """Replies like llama.cpp's server: continues a trailing assistant message and returns prefill + continuation,
    cut before the first stop string."""

    def __init__(self, full_reply: str, continues_prefill: bool = True, echo_prefill: bool = True):
        super().__init__("fake/server", cache=False)
        self.full_reply, self.continues_prefill, self.echo_prefill = full_reply, continues_prefill, echo_prefill
        self.requests = []

    def __call__(self, prompt=None, messages=None, **kwargs):
        self.requests.append((messages, kwargs))
        prefill = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
        assert self.full_reply.startswith(prefill)
        text = self.full_reply[len(prefill):]
        for stop in kwargs.get("stop") or []:
            text = text.split(stop)[0]
        return [(prefill if self.echo_prefill else "") + text]


def run(lm, signature=Answer):
    with dspy.context(lm=lm, adapter=PrefillChatAdapter(use_json_adapter_fallback=False)):
        return dspy.Predict(signature)(question="Capital of France?")


def test_one_field_is_prefilled_and_stops_at_the_closing_marker():
    lm = ServerLM("[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]")
    assert run(lm).answer == "Paris"
    messages, kwargs = lm.requests[0]
    assert messages[-1] == {"role": "assistant", "content": "[[ ## answer ## ]]\n"}
    assert kwargs["stop"] == ["\n\n[["]


def test_a_server_that_returns_only_the_continuation_parses_the_same():
    lm = ServerLM("[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]", echo_prefill=False)
    assert run(lm).answer == "Paris"


def test_several_fields_keep_every_header_and_are_not_cut_between_fields():
    lm = ServerLM("[[ ## reasoning ## ]]\nIt is.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]")
    out = run(lm, TwoFields)
    assert (out.reasoning, out.answer) == ("It is.", "Paris")
    messages, kwargs = lm.requests[0]
    assert messages[-1]["content"] == "[[ ## reasoning ## ]]\n" and "stop" not in kwargs


def test_other_lms_get_plain_chat_adapter_messages():
    lm = ServerLM("[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]", continues_prefill=False)
    assert run(lm).answer == "Paris"
    messages, kwargs = lm.requests[0]
    assert messages[-1]["role"] == "user" and "stop" not in kwargs


def test_mipros_lenient_proposal_adapter_keeps_the_programs_reply_framing():
    from optimizers.lenient_adapter import LenientProposalAdapter

    lm = ServerLM("[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]")
    with dspy.context(lm=lm, adapter=LenientProposalAdapter()):
        assert dspy.Predict(Answer)(question="Capital of France?").answer == "Paris"
    messages, kwargs = lm.requests[0]
    assert messages[-1] == {"role": "assistant", "content": "[[ ## answer ## ]]\n"}  # prefilled, as in evaluation
