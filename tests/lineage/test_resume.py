"""A data stage's key and stamp: what makes a stage's earlier result reusable, and what does not."""

from __future__ import annotations

import pytest

from llm2slm.lineage.resume import UnknownStageError, outputs_digest, outputs_intact, stage_key, write_stamp
from tests.tasks.conftest import art, cfg  # noqa: F401  (fixtures)
from tests.tasks.test_split import _inputs


def test_the_key_depends_on_the_inputs_and_the_stages_own_configuration(cfg, art):  # noqa: F811
    _inputs(art)
    key = stage_key(cfg, "split")
    assert stage_key(cfg, "split") == key and len(key) == 64
    elsewhere = cfg.model_copy(update={"cluster": cfg.cluster.model_copy(update={"min_samples": 9})})
    assert stage_key(elsewhere, "split") == key
    own = cfg.model_copy(update={"split": cfg.split.model_copy(update={"val_fraction": 0.2})})
    assert stage_key(own, "split") != key
    _inputs(art, n=199)
    assert stage_key(cfg, "split") != key


def test_a_stage_whose_inputs_are_missing_cannot_be_keyed(cfg):  # noqa: F811
    with pytest.raises(FileNotFoundError, match="curated.parquet"):
        stage_key(cfg, "split")
    with pytest.raises(UnknownStageError, match="no resumable stage 'export'"):
        stage_key(cfg, "export")


def test_the_stamp_holds_while_the_outputs_are_the_ones_written(cfg, art):  # noqa: F811
    from tasks.split import split

    _inputs(art)
    assert outputs_digest(cfg, "split") is None
    split.fn(cfg)
    key = stage_key(cfg, "split")
    assert outputs_intact(cfg, "split", key) is False  # never stamped
    write_stamp(cfg, "split", key)
    assert outputs_intact(cfg, "split", key) is True
    assert outputs_intact(cfg, "split", "0" * 64) is False
    (art.tasks / "task-01" / "val.jsonl").write_text("{}\n")
    assert outputs_intact(cfg, "split", key) is False
