"""The shipped candidate catalogue and the errors a bad entry raises."""

from __future__ import annotations

import pytest
import yaml

from llm2slm.training.catalogue import CatalogueError, default_catalogue_path, find_candidate, load_catalogue

REQUIRED_HUB_IDS = {
    "sentence-transformers/all-MiniLM-L6-v2", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct",
    "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct", "microsoft/Phi-3.5-mini-instruct", "Salesforce/xLAM-2-1b-fc-r",
}


def test_the_shipped_catalogue_covers_the_models_and_marks_the_offline_ones():
    candidates = load_catalogue(default_catalogue_path())
    assert REQUIRED_HUB_IDS <= {c.hub_id for c in candidates}
    assert {c.name for c in candidates if c.offline} == {"minilm-classifier", "minilm-span-tagger", "tiny-generator",
                                                          "smollm2-135m-instruct"}
    smol = find_candidate(candidates, "smollm2-135m-instruct")
    assert smol.base == "smollm2-135m-instruct" and smol.output_shapes == ["json", "tool_call", "free_text"]
    assert smol.memory_bf16_mib == pytest.approx(134_515_008 * 2 / 2**20)
    tagger = find_candidate(candidates, "minilm-span-tagger")
    assert tagger.kind == "span_tagger" and tagger.output_shapes == ["json"] and tagger.base == "all-MiniLM-L6-v2"
    qwen = find_candidate(candidates, "qwen2.5-0.5b-instruct")
    assert qwen.memory_bf16_mib == pytest.approx(494e6 * 2 / 2**20)
    assert qwen.memory_4bit_mib == pytest.approx(494e6 * 4.5 / 8 / 2**20)
    assert all(c.benchmarks_source for c in candidates if c.benchmarks)


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "classifier", "output_shapes": ["json"]}, "a classifier cannot produce \\['json'\\]"),
    ({"kind": "span_tagger", "output_shapes": ["tool_call"]}, "a span_tagger cannot produce"),
    ({"benchmarks": {"MMLU": 50.0}}, "benchmarks_source"),
    ({"architecture": "decoder"}, "architecture: a classifier is an encoder"),
])
def test_a_bad_entry_names_its_field(tmp_path, change, message):
    entry = {"name": "x", "kind": "classifier", "architecture": "encoder", "base": "all-MiniLM-L6-v2",
             "params": 10, "context_length": 8, "licence": "mit", "output_shapes": ["closed_label"],
             "method": "lora", "offline": True, **change}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"candidates": [entry]}))
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(tmp_path / "c.yaml")
