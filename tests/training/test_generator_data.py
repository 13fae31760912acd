"""Generators: loss on answer tokens only, and a saved specialist that carries its adapter and chat template."""

from __future__ import annotations

import json

import pytest
import torch

from llm2slm.training.data import IGNORE, GeneratorCollator, encode_prompt
from llm2slm.training.recipe import Recipe
from llm2slm.training.tiny import build_tiny_llama, train_tiny_tokenizer

ROWS = [
    {"messages": [{"role": "system", "content": "Extract the booking as JSON."},
                  {"role": "user", "content": "a table for 4 people at 7pm"}],
     "tools": None, "answer": '{"people": "4 people", "time": "7pm"}'},
    {"messages": [{"role": "user", "content": "hello there"}], "tools": None, "answer": "{}"},
]


@pytest.fixture(scope="module")
def tokenizer():
    texts = [m["content"] for r in ROWS for m in r["messages"]] + [r["answer"] for r in ROWS]
    return train_tiny_tokenizer(texts * 20, vocab_size=300)


def test_prompt_tokens_get_no_loss_and_answer_tokens_do(tokenizer):
    batch = GeneratorCollator(tokenizer, max_length=128, max_new_tokens=32)(ROWS)
    width = batch["input_ids"].shape[1]
    for i, row in enumerate(ROWS):
        prompt = encode_prompt(tokenizer, row["messages"], None, 128)
        answer = tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        pad = width - len(prompt) - len(answer)  # left padding: every answer ends at the batch's last position
        assert batch["input_ids"][i, pad:pad + len(prompt)].tolist() == prompt  # the chat template's rendering
        assert (batch["labels"][i, :pad + len(prompt)] == IGNORE).all()  # padding and prompt: no loss
        assert batch["labels"][i, pad + len(prompt):].tolist() == answer  # answer + EOS: the loss
        assert batch["attention_mask"][i, :pad].sum() == 0 and batch["attention_mask"][i, pad:].sum() == width - pad
        assert batch["position_ids"][i, pad:].tolist() == list(range(width - pad))  # counted from the first token
    rendered = tokenizer.apply_chat_template(ROWS[0]["messages"], tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("<|assistant|>") and "<|system|>" in rendered


def test_the_loss_on_the_kept_answer_logits_equals_the_loss_over_every_position(tokenizer):
    from llm2slm.training.steps import generator_loss

    model = build_tiny_llama(tokenizer, seed=5).eval()
    batch = GeneratorCollator(tokenizer, max_length=128, max_new_tokens=32)(ROWS)
    loss, logits, targets = generator_loss(model, batch)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    full = model(**inputs).logits[:, :-1]
    reference = torch.nn.functional.cross_entropy(full.flatten(0, 1), batch["labels"][:, 1:].flatten(),
                                                  ignore_index=IGNORE)
    assert float(loss) == pytest.approx(float(reference), rel=1e-5)
    longest_answer = max(int((batch["labels"][i] != IGNORE).sum()) for i in range(len(ROWS)))
    assert logits.shape[1] == targets.shape[1] == longest_answer  # the output layer ran on the answers only


def test_a_long_conversation_keeps_its_system_turn_and_latest_turns(tokenizer):
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn number {i} " * 6} for i in range(12)]
    messages = [{"role": "system", "content": "Extract the booking as JSON."}, *turns]
    whole = encode_prompt(tokenizer, messages, None, 10_000)
    bounded = encode_prompt(tokenizer, messages, None, len(whole) // 2)
    text = tokenizer.decode(bounded)
    assert len(bounded) <= len(whole) // 2
    assert text.startswith("<|system|>Extract the booking as JSON.") and "turn number 11" in text
    assert "turn number 0 " not in text  # the oldest turns went first
    kept = sum(f"turn number {i} " in text for i in range(12))
    assert 0 < kept < 12 and all(f"turn number {i} " in text for i in range(12 - kept, 12))


def _save_base(tokenizer, folder):
    model = build_tiny_llama(tokenizer, seed=3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("merge", [False, True])
def test_lora_specialist_saves_adapter_tokenizer_and_chat_template(tokenizer, tmp_path, merge):
    from llm2slm.training.models import build_generator, load_generator, save_specialist

    base = _save_base(tokenizer, tmp_path / "base")
    recipe = Recipe(kind="generator", base_model=str(base), method="lora", merge_weights=merge,
                    max_length=64, max_new_tokens=16)
    model, tok = build_generator(recipe)
    with torch.no_grad():  # move the adapter away from its zero start so that it changes the output
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.add_(0.05)
    inputs = torch.tensor([encode_prompt(tok, ROWS[0]["messages"], None, 40)])
    expected = model(input_ids=inputs).logits
    out = save_specialist(model, tok, recipe, tmp_path / "specialist")

    meta = json.loads((out / "specialist.json").read_text())
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    assert meta["weights"] == ("merged" if merge else "adapter")
    assert (out / "model.safetensors").is_file() == merge
    assert meta["chat_template"] == tokenizer.chat_template and (out / "chat_template.jinja").is_file()
    loaded, loaded_tok, _ = load_generator(out)
    assert loaded_tok.chat_template == tokenizer.chat_template
    assert torch.allclose(loaded(input_ids=inputs).logits, expected, atol=1e-4)


def test_recipe_fields_for_checkpoints_and_quantization():
    with pytest.raises(ValueError, match="quantization"):
        Recipe(kind="classifier", base_model="all-MiniLM-L6-v2", labels=["a", "b"], quantization="4bit")
    with pytest.raises(ValueError, match="checkpoint_every_steps"):
        Recipe(kind="generator", base_model="tiny:llama", method="full", checkpoint_every_steps=-1)
    from llm2slm.training.models import quantization_config

    qlora = Recipe(kind="generator", base_model="some/model", quantization="4bit", max_length=256)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA GPU"):
            quantization_config(qlora, use_gpu=True)
    assert quantization_config(qlora.model_copy(update={"quantization": "none"}), use_gpu=False) is None


def test_micro_batches_give_the_gradients_of_the_whole_batch(tokenizer):
    from llm2slm.training.steps import micro_batches, train_step

    rows = ROWS * 3  # 6 rows of two lengths
    batch = GeneratorCollator(tokenizer, max_length=128, max_new_tokens=32)(rows)
    pieces = micro_batches(batch, 2)
    assert [len(p["input_ids"]) for p in pieces] == [2, 2, 2]
    assert all(p["attention_mask"][:, 0].any() for p in pieces)  # no padding column that no row of it needs

    def gradients(micro):
        model = build_tiny_llama(tokenizer, seed=5)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        loss = train_step(model, batch, optimizer, scheduler, [], "generator", micro_batch=micro)
        return loss, torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    whole_loss, whole = gradients(None)
    piece_loss, pieced = gradients(2)
    assert piece_loss == pytest.approx(whole_loss, rel=1e-5)
    assert torch.allclose(pieced, whole, atol=1e-6)
