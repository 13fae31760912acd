"""Build, save and load the model and tokenizer of a recipe.

Classifier: an encoder (AutoModel) + mean pooling + a linear head over the label set; LoRA on the encoder's
linear layers, the head trained fully. Generator: a causal LM (AutoModelForCausalLM, or a tiny Llama built from
a config), LoRA or full. A saved specialist is a folder: the model with any LoRA merged (`save_pretrained`),
the tokenizer (with its chat template), `head.safetensors` for classifiers, and `specialist.json`.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llm2slm.packaged import resolve_model
from llm2slm.training.recipe import Recipe

SPECIALIST_FILE = "specialist.json"
HEAD_FILE = "head.safetensors"
FORMAT_VERSION = 1


def resolve_base(base: str) -> str:
    """A loadable location for a base: the packaged MiniLM folder for 'all-MiniLM-L6-v2', else the base as is."""
    return resolve_model(base)


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (the missing pooler is expected)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


class MeanPoolClassifier(nn.Module):
    """Encoder -> mean of the token vectors (padding excluded) -> linear head -> one logit per label."""

    def __init__(self, encoder: nn.Module, n_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size  # width of the token vectors
        self.head = nn.Linear(hidden, n_labels)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return self.head(pooled)


def _load_encoder(path: str) -> nn.Module:
    from transformers import AutoModel

    try:  # BERT-like encoders: the pooler is unused by mean pooling and would leave DDP with idle parameters
        return AutoModel.from_pretrained(path, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(path)


def _lora(model: nn.Module, recipe: Recipe, task_type: str | None) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=recipe.lora_targets,
        bias="none",
        task_type=task_type,
    )
    return get_peft_model(model, config)


def build_classifier(recipe: Recipe) -> tuple[MeanPoolClassifier, Any]:
    from transformers import AutoTokenizer

    quiet_transformers()
    path = resolve_base(recipe.base_model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = _load_encoder(path)
    if recipe.method == "lora":
        encoder = _lora(encoder, recipe, task_type=None)
    torch.manual_seed(recipe.seed)  # the head's initial weights
    return MeanPoolClassifier(encoder, len(recipe.labels or [])), tokenizer


def build_generator(recipe: Recipe, tokenizer_json: str | None = None, use_gpu: bool = False) -> tuple[nn.Module, Any]:
    """A causal LM and its tokenizer; a tiny:* base needs the driver's trained tokenizer as `tokenizer_json`."""
    quiet_transformers()
    if recipe.is_tiny:
        from llm2slm.training import tiny

        if tokenizer_json is None:
            raise ValueError("a tiny:* base needs its tokenizer (train_tiny_tokenizer on the training texts)")
        tokenizer = tiny.tokenizer_from_json(tokenizer_json)
        return tiny.build_tiny_llama(tokenizer, recipe.seed), tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_base(recipe.base_model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if use_gpu and torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if recipe.method == "lora":
        model = _lora(model, recipe, task_type="CAUSAL_LM")
    return model, tokenizer


def build_model(recipe: Recipe, tokenizer_json: str | None = None, use_gpu: bool = False) -> tuple[nn.Module, Any]:
    if recipe.kind == "classifier":
        return build_classifier(recipe)
    return build_generator(recipe, tokenizer_json=tokenizer_json, use_gpu=use_gpu)


def _merged(model: nn.Module) -> nn.Module:
    """The model with any LoRA adapter folded into its weights (a plain transformers model)."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model


def _versions() -> dict[str, str]:
    names = ("llm2slm", "torch", "transformers", "peft")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def save_specialist(
    model: nn.Module, tokenizer: Any, recipe: Recipe, out_dir: Path | str, extra: dict[str, Any] | None = None
) -> Path:
    """Write a loadable specialist folder; merges LoRA in place, so call it after training."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    if recipe.kind == "classifier":
        _merged(model.encoder).save_pretrained(out)
        head = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
        save_file(head, str(out / HEAD_FILE))
    else:
        _merged(model).save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta = {
        "format": FORMAT_VERSION,
        "kind": recipe.kind,
        "base_model": recipe.base_model,
        "labels": recipe.labels,
        "max_length": recipe.max_length,  # tokens of input (classifier) or prompt + answer (generator)
        "max_new_tokens": recipe.max_new_tokens,  # tokens generated at most (generator)
        "recipe": recipe.model_dump(mode="json"),
        "versions": _versions(),
        **(extra or {}),
    }
    (out / SPECIALIST_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return out


def read_meta(model_dir: Path | str) -> dict[str, Any]:
    path = Path(model_dir) / SPECIALIST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} is not a specialist folder: {SPECIALIST_FILE} is missing")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: format {meta.get('format')!r} is not {FORMAT_VERSION}")
    return meta


def load_classifier(model_dir: Path | str) -> tuple[MeanPoolClassifier, Any, dict[str, Any]]:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    quiet_transformers()
    meta = read_meta(model_dir)
    encoder = _load_encoder(str(model_dir))
    model = MeanPoolClassifier(encoder, len(meta["labels"]))
    model.head.load_state_dict(load_file(str(Path(model_dir) / HEAD_FILE)))
    return model.eval(), AutoTokenizer.from_pretrained(str(model_dir)), meta


def load_generator(model_dir: Path | str) -> tuple[nn.Module, Any, dict[str, Any]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    meta = read_meta(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.padding_side = "left"  # batched greedy decoding continues every row from its last prompt token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer, meta
