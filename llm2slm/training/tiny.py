"""Tiny generators built on the spot: a byte-level BPE trained on the task's texts and a 2-layer Llama.

They have no pretrained knowledge: they learn the templates of one task from its examples, which is enough to
exercise the whole pipeline offline (tests, demos). The tokenizer is trained once by the driver and shipped to
the Ray workers as its JSON string, so that every worker and the saved model use the very same vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

PAD, END = "<|pad|>", "<|end|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]
SPECIAL_TOKENS = [PAD, END, *ROLE_TOKENS]

# One turn = role token, content, <|end|>. The answer the model learns is the content of an assistant turn
# followed by <|end|>, which is also the EOS token that stops generation.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>' }}{%- endif -%}"
)

# Model shape (hidden units, layers, heads, positions in tokens): ~2.6M parameters with a 4,000-token vocabulary.
TINY_LLAMA = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "intermediate_size": 512,
    "max_position_embeddings": 1024,
}


def train_tiny_tokenizer(texts: Iterable[str], vocab_size: int = 4000) -> PreTrainedTokenizerFast:
    """A byte-level BPE (any text round-trips) with the chat special tokens, trained on `texts`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return wrap_tokenizer(tokenizer)


def wrap_tokenizer(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    """A transformers tokenizer around a `tokenizers` BPE, with pad/EOS and the chat template set."""
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=END,
        padding_side="left",  # generation pads on the left; training builds its own batches
        model_max_length=TINY_LLAMA["max_position_embeddings"],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tokenizer_to_json(tokenizer: PreTrainedTokenizerFast) -> str:
    return tokenizer.backend_tokenizer.to_str()


def tokenizer_from_json(data: str) -> PreTrainedTokenizerFast:
    return wrap_tokenizer(Tokenizer.from_str(data))


def build_tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int) -> LlamaForCausalLM:
    """A randomly initialised Llama sized by TINY_LLAMA, with tied input/output embeddings."""
    import torch

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **TINY_LLAMA,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)
