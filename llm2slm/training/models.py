"""Build, save and load the model and tokenizer of a recipe.

Classifier: an encoder (AutoModel) + mean pooling + a linear head over the label set. Span tagger: an encoder +
a per-token head (`llm2slm.training.tagger`). Both get LoRA on the encoder's linear layers, the head trained
fully. Generator: a causal LM (AutoModelForCausalLM, or a tiny Llama built from a config), LoRA, full, or QLoRA
(4-bit base, needs a GPU and bitsandbytes).

A saved specialist is a folder: `specialist.json`, the tokenizer with its chat template, `head.safetensors` for
encoder kinds, and the weights: a LoRA run saves its adapter in `adapter/` (loaded onto the base named in
`specialist.json`) and, when the recipe asks for `merge_weights`, the merged model at the top of the folder; a
full fine-tuning run saves the whole model there. Loading prefers merged weights when both exist.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llm2slm.common.packaged import resolve_model
from llm2slm.training.recipe import Recipe

SPECIALIST_FILE = "specialist.json"
HEAD_FILE = "head.safetensors"
ADAPTER_DIR = "adapter"
CHAT_TEMPLATE_FILE = "chat_template.jinja"
FORMAT_VERSION = 1
ENCODER_KINDS = ("classifier", "span_tagger")


def resolve_base(base: str) -> str:
    """A loadable location for a base: the packaged MiniLM folder for 'all-MiniLM-L6-v2', else the base as is."""
    return resolve_model(base)


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (the missing pooler is expected), and its notice that
    a method PEFT calls on saving was renamed (nothing the user can act on)."""
    import warnings

    import transformers

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
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


def load_encoder(path: str) -> nn.Module:
    from transformers import AutoModel

    try:  # BERT-like encoders: the pooler is unused by mean pooling and would leave DDP with idle parameters
        return AutoModel.from_pretrained(path, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(path)


def lora(model: nn.Module, recipe: Recipe, task_type: str | None) -> nn.Module:
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
    encoder = load_encoder(path)
    if recipe.method == "lora":
        encoder = lora(encoder, recipe, task_type=None)
    torch.manual_seed(recipe.seed)  # the head's initial weights
    return MeanPoolClassifier(encoder, len(recipe.labels or [])), tokenizer


def quantization_config(recipe: Recipe, use_gpu: bool) -> Any:
    """A 4-bit (NF4, bf16 compute) BitsAndBytesConfig for a QLoRA recipe, else None; a clear error when this
    machine cannot run it."""
    if recipe.quantization != "4bit":
        return None
    import importlib.util

    if not (use_gpu and torch.cuda.is_available()):
        raise RuntimeError("quantization: 4bit (QLoRA) needs a CUDA GPU and use_gpu=true; set quantization: none")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError("quantization: 4bit (QLoRA) needs the bitsandbytes package, which is not installed")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


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
    if not tokenizer.chat_template:
        raise ValueError(f"base_model {recipe.base_model!r}: its tokenizer has no chat template; use an instruct model")
    gpu = use_gpu and torch.cuda.is_available()
    quantized = quantization_config(recipe, use_gpu)
    extra: dict[str, Any] = {}
    if quantized is not None:  # a 4-bit model is placed on its GPU at load time and never moved
        extra = {"quantization_config": quantized, "device_map": {"": torch.cuda.current_device()}}
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if gpu else torch.float32, **extra)
    if quantized is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if recipe.method == "lora":
        model = lora(model, recipe, task_type="CAUSAL_LM")
    return model, tokenizer


def build_model(recipe: Recipe, tokenizer_json: str | None = None, use_gpu: bool = False) -> tuple[nn.Module, Any]:
    if recipe.kind == "classifier":
        return build_classifier(recipe)
    if recipe.kind == "span_tagger":
        from llm2slm.training.tagger import build_span_tagger

        return build_span_tagger(recipe)
    return build_generator(recipe, tokenizer_json=tokenizer_json, use_gpu=use_gpu)


def _versions() -> dict[str, str]:
    names = ("llm2slm", "torch", "transformers", "peft")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _save_weights(network: nn.Module, recipe: Recipe, out: Path) -> str:
    """The adapter in out/adapter (LoRA) and/or full weights at out (full, or merge_weights); returns which
    the loaders use: 'merged' or 'adapter'."""
    from peft import PeftModel

    if not isinstance(network, PeftModel):
        network.save_pretrained(out)
        return "merged"
    network.save_pretrained(out / ADAPTER_DIR)
    config_file = out / ADAPTER_DIR / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = recipe.base_model  # the name, not this machine's path to it
    config_file.write_text(json.dumps(config, indent=2))
    if not recipe.merge_weights:
        return "adapter"
    if recipe.quantization == "4bit":  # merge into a bf16 copy of the base, not into 4-bit weights
        network = _attach_adapter(_load_base_generator(recipe.base_model, torch.bfloat16), out / ADAPTER_DIR)
        network.save_pretrained(out)
    else:
        network.merge_and_unload().save_pretrained(out)
    return "merged"


def save_specialist(
    model: nn.Module, tokenizer: Any, recipe: Recipe, out_dir: Path | str, extra: dict[str, Any] | None = None
) -> Path:
    """Write a loadable specialist folder (call it after training: merging changes the model in place)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    if recipe.kind in ENCODER_KINDS:
        weights = _save_weights(model.encoder, recipe, out)
        head = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
        save_file(head, str(out / HEAD_FILE))
    else:
        weights = _save_weights(model, recipe, out)
    tokenizer.save_pretrained(out)
    template = getattr(tokenizer, "chat_template", None)
    if recipe.kind == "generator" and template and not (out / CHAT_TEMPLATE_FILE).is_file():
        (out / CHAT_TEMPLATE_FILE).write_text(template)
    meta = {
        "format": FORMAT_VERSION,
        "kind": recipe.kind,
        "base_model": recipe.base_model,
        "weights": weights,  # 'merged': full weights in this folder; 'adapter': base_model + adapter/
        "labels": recipe.labels,
        "fields": recipe.fields,
        "max_length": recipe.max_length,  # tokens of input (encoders) or prompt + answer (generator)
        "max_new_tokens": recipe.max_new_tokens,  # tokens generated at most (generator)
        "decoding": recipe.decoding,  # generator: constrained decoding, none | json | tools
        "chat_template": template if recipe.kind == "generator" else None,
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


def _attach_adapter(base: nn.Module, adapter_dir: Path) -> nn.Module:
    """The base with the saved LoRA adapter merged in (a plain transformers model)."""
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter_dir}: the LoRA adapter is missing")
    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()


def _load_base_generator(base_model: str, dtype: torch.dtype = torch.float32) -> nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(resolve_base(base_model), dtype=dtype)


def _specialist_encoder(model_dir: Path, meta: dict[str, Any]) -> nn.Module:
    if meta.get("weights", "merged") == "merged":
        return load_encoder(str(model_dir))
    return _attach_adapter(load_encoder(resolve_base(meta["base_model"])), model_dir / ADAPTER_DIR)


def load_encoder_specialist(model_dir: Path | str) -> tuple[nn.Module, Any, dict[str, Any]]:
    """A classifier or span tagger: (model in eval mode, tokenizer, specialist.json)."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    quiet_transformers()
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    encoder = _specialist_encoder(model_dir, meta)
    if meta["kind"] == "span_tagger":
        from llm2slm.training.tagger import TokenTagger

        model: nn.Module = TokenTagger(encoder, len(meta["fields"]))
    else:
        model = MeanPoolClassifier(encoder, len(meta["labels"]))
    model.head.load_state_dict(load_file(str(model_dir / HEAD_FILE)))
    return model.eval(), AutoTokenizer.from_pretrained(str(model_dir)), meta


def load_generator(model_dir: Path | str) -> tuple[nn.Module, Any, dict[str, Any]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    if meta.get("weights", "merged") == "merged":
        model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    else:
        model = _attach_adapter(_load_base_generator(meta["base_model"]), model_dir / ADAPTER_DIR)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.padding_side = "left"  # batched greedy decoding continues every row from its last prompt token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template and meta.get("chat_template"):
        tokenizer.chat_template = meta["chat_template"]
    return model.eval(), tokenizer, meta
