"""The `finetune:` section: GPU use, placement and storage are validated when the configuration loads."""

import pytest

from llm2slm.common.config import ConfigError, load_config


def _load(tmp_path, section: str):
    (tmp_path / "params.yaml").write_text(f"finetune:\n{section}")
    return load_config(tmp_path).finetune


def test_use_gpu_is_auto_unless_forced(tmp_path):
    assert _load(tmp_path, "  num_workers: 2\n").use_gpu == "auto"
    assert _load(tmp_path, "  use_gpu: true\n").use_gpu is True
    assert _load(tmp_path, "  use_gpu: false\n").use_gpu is False
    with pytest.raises(ConfigError, match="finetune.use_gpu"):
        _load(tmp_path, "  use_gpu: sometimes\n")


def test_placement_strategy_is_one_of_rays(tmp_path):
    assert _load(tmp_path, "  placement_strategy: PACK\n").placement_strategy == "PACK"
    with pytest.raises(ConfigError, match="finetune.placement_strategy"):
        _load(tmp_path, "  placement_strategy: spread\n")


def test_storage_is_an_absolute_path_or_a_uri(tmp_path):
    assert _load(tmp_path, "  storage: /mnt/shared/runs\n").storage == "/mnt/shared/runs"
    assert _load(tmp_path, "  storage: s3://bucket/runs\n").storage == "s3://bucket/runs"
    with pytest.raises(ConfigError, match="finetune.storage.*relative"):
        _load(tmp_path, "  storage: runs\n")
