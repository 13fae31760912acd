"""Fine-tuning on a Ray cluster of two nodes on this machine (real `ray start` processes): the workers spread over
the nodes, and a run whose worker node dies mid-run resumes from its last checkpoint and finishes."""

from __future__ import annotations

import functools
import json

import pytest

from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
from llm2slm.training.recipe import recipe_for, task_stats_from_dir
from tests.training.slot_rows import slot_rows
from tests.training.test_finetune import _write_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(repo_root):
    import ray

    from llm2slm.testing.ray_cluster import LocalRayCluster

    local = LocalRayCluster(code_dir=repo_root)
    try:
        local.add_node()
        ray.init(address=local.address, log_to_driver=False)
        yield local
    finally:
        ray.shutdown()
        local.stop()
    assert local.leftover_pids() == []  # every raylet, agent and worker of both nodes is gone


@pytest.fixture()
def two_nodes(cluster):
    """(head, worker) of a cluster with two live nodes: a new worker node replaces one an earlier test killed."""
    if len([n for n in cluster.nodes if n.proc.poll() is None]) < 2:
        cluster.add_node()
    cluster.wait_for_nodes()
    head, worker = [n for n in cluster.nodes if n.proc.poll() is None]
    return head, worker


def _span_task(tmp_path):
    task = _write_task(tmp_path / "task", {"train": slot_rows(48, 1), "val": slot_rows(16, 2)})
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "minilm-span-tagger")
    # 2 workers x 4 rows per step: 6 steps per epoch; a checkpoint every 3 steps
    return task, lambda epochs: recipe_for(candidate, task_stats_from_dir(task), epochs=epochs, batch_size=8,
                                           checkpoint_every_steps=3)


def test_two_workers_spread_one_per_node(tmp_path, cluster, two_nodes):
    from llm2slm.training.train import fine_tune

    head, worker = two_nodes
    task, recipe = _span_task(tmp_path)
    result = fine_tune(recipe(1), task, tmp_path / "model", num_workers=2, use_gpu="auto",
                       storage_path=tmp_path / "runs", ray_address=cluster.address, placement_strategy="SPREAD")
    assert result.use_gpu is False  # "auto" on a cluster that reports no GPU
    assert len(result.attempt_nodes) == 1 and sorted(result.attempt_nodes[0]) == sorted([head.node_id, worker.node_id])
    assert result.attempt_start_steps == [0] and result.steps == 6
    assert json.loads((result.model_dir / "specialist.json").read_text())["attempt_nodes"] == result.attempt_nodes


def test_a_killed_worker_node_resumes_from_the_last_checkpoint(tmp_path, cluster, two_nodes):
    from llm2slm.serving.specialist import Specialist
    from llm2slm.testing.faults import NodeFailure, maybe_kill_node
    from llm2slm.training.train import fine_tune

    head, worker = two_nodes
    task, recipe = _span_task(tmp_path)
    failure = NodeFailure(node_id=worker.node_id, session_id=worker.proc.pid, step=5)  # checkpoints at 3, 6, ...
    result = fine_tune(recipe(2), task, tmp_path / "model", num_workers=2, use_gpu=False,
                       storage_path=tmp_path / "runs", ray_address=cluster.address, max_failures=1,
                       step_hook=functools.partial(maybe_kill_node, failure))
    assert worker.proc.poll() is not None and worker.pids() == []  # the whole node died
    assert result.attempt_start_steps == [0, 3]  # resumed at the checkpointed step, not 0
    assert sorted(result.attempt_nodes[0]) == sorted([head.node_id, worker.node_id])
    assert result.attempt_nodes[1] == [head.node_id, head.node_id]  # the run went on with the capacity left
    assert result.steps == 12 and len(result.history) == 2
    test = slot_rows(8, 3)
    assert len(Specialist.load(result.model_dir).predict_rows(test)) == len(test)
