"""Discovery's closed-label test takes selection's thresholds (`select.*`), passed in its Options."""

from __future__ import annotations

import numpy as np

from llm2slm.common.config import ClusterConfig, SelectConfig
from llm2slm.discovery.pipeline import Options, describe_tasks, run_params
from tests.discovery.synthetic import trace


def test_the_default_options_use_the_selection_config_defaults():
    assert (Options().closed_label_max, Options().closed_label_coverage) == (
        SelectConfig().closed_label_max, SelectConfig().closed_label_coverage)
    options = Options.from_select(SelectConfig(closed_label_max=2, closed_label_coverage=0.9), progress=False)
    assert (options.closed_label_max, options.closed_label_coverage, options.progress) == (2, 0.9, False)


def test_the_task_shape_follows_the_thresholds_passed_in():
    records, _ = trace({"triage": 60}, seed=0)
    embeddings = np.random.default_rng(0).normal(size=(len(records), 8))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    task_ids = ["task-00"] * len(records)
    strict = Options.from_select(SelectConfig(closed_label_max=2))
    shapes = [describe_tasks(records, task_ids, embeddings, ClusterConfig(), options)[0].output_shape
              for options in (Options(), strict)]
    assert shapes == ["closed_label", "free_text"]  # the triage answers hold more than two labels
    assert run_params(len(records), ClusterConfig(), strict)["closed_label_max"] == 2
