"""The fine-tuning section of the configuration (`finetune:` in params.yaml): Ray Train's workers, where they run
and where they checkpoint. docs/finetuning.md explains each field."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PlacementStrategy = Literal["SPREAD", "PACK", "STRICT_SPREAD", "STRICT_PACK"]  # Ray placement group strategies


class FinetuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_workers: int = Field(2, ge=1)
    use_gpu: bool | Literal["auto"] = Field("auto", description="auto: GPUs when the Ray cluster has one per worker")
    placement_strategy: PlacementStrategy = Field("SPREAD", description="the workers over the cluster's nodes")
    storage: str | None = Field(None, description="checkpoints: an absolute path every node mounts or a URI "
                                                  "(s3://bucket/prefix); null: the home's runs folder")

    max_train_calls: int = Field(6000, ge=1)
    epochs: int | None = Field(None, ge=1, description="overrides the recipe's epochs for every task")
    seed: int = 13
    checkpoint_every_steps: int = Field(100, ge=0, description="optimizer steps between resumable checkpoints")
    max_failures: int = Field(1, ge=-1, description="worker-group restarts from the last checkpoint; -1: no limit")
    generator_max_train_calls: int = Field(160, ge=1, description="a generator's train calls per task at most")
    generator_max_train_tokens: int | None = Field(
        20_000, ge=1, description="a generator's tokens through forward and backward per task, all epochs (null: no cap)")
    generator_epochs: int = Field(2, ge=1, description="epochs of a pretrained generator's fine-tuning")
    generator_max_tasks: int | None = Field(
        1, ge=0, description="generators trained per conversion, in task order (null: every task that needs one)")
    generator_max_length: int = Field(
        512, ge=64, le=131072, description="a pretrained generator's tokens per example (prompt + answer) at most")

    @field_validator("storage")
    @classmethod
    def _absolute_or_uri(cls, value: str | None) -> str | None:
        if value is None or value.startswith("/") or "://" in value:
            return value
        raise ValueError(f"{value!r} is relative: each Ray node would resolve it in its own working folder; "
                         "give an absolute path that every node mounts, or a URI such as s3://bucket/prefix")
