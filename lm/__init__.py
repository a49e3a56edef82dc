"""Language models: the embedded default and any LiteLLM model, behind one `configure()`."""

from lm.factory import CHAT_END_MARKER, LMPair, ModelSpec, configure, make_lm, probe

__all__ = ["CHAT_END_MARKER", "LMPair", "ModelSpec", "configure", "make_lm", "probe"]
