"""What a fine-tuning run needs from the Ray cluster it runs on: whether to train on GPUs, where checkpoints go and
whether every node reaches that place, and which node each worker ran on.

- `use_gpu: auto` (the default) trains on GPUs when the cluster reports at least one GPU per worker
  (`ray.cluster_resources()`), else on CPU: asking Ray for GPUs it does not have would leave the run waiting for
  them. true and false force it (true waits, for example, for an autoscaler to add GPU nodes).
- Storage: a URI (`s3://bucket/prefix`, `gs://...`; whatever `pyarrow.fs.FileSystem.from_uri` reads) is handed
  to Ray Train as it is; a path is made absolute on the driver. On a cluster joined through `ray_address`, a path
  must be one every node mounts (NFS, a shared volume): `check_storage_on_every_node` writes a marker there and
  has a task on each live node read it, and fails naming the nodes that cannot, before any worker starts
  (otherwise rank 0's first checkpoint fails on a node that writes into its own disk).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

log = logging.getLogger("llm2slm.finetune")
STORAGE_MARKER = ".llm2slm-storage-check"  # written by the driver, read by a task on every node
STORAGE_CHECK_TIMEOUT_S = 120.0  # seconds the per-node storage check may take (a worker process per node)


class StorageNotShared(RuntimeError):
    """Ray Train's storage is a path that some nodes of the cluster do not see."""


def resolve_use_gpu(setting: bool | Literal["auto"], cluster_gpus: float, num_workers: int) -> tuple[bool, str]:
    """(train on GPUs?, why): `auto` uses GPUs when the cluster has one for every worker."""
    if setting != "auto":
        return bool(setting), f"use_gpu={str(setting).lower()} in the configuration"
    if cluster_gpus >= num_workers:
        return True, f"the Ray cluster has {cluster_gpus:g} GPU(s) for {num_workers} worker(s)"
    if cluster_gpus > 0:
        return False, (f"the Ray cluster has {cluster_gpus:g} GPU(s) for {num_workers} workers: training on CPU "
                       f"(set finetune.num_workers to {int(cluster_gpus)} to use them)")
    return False, "the Ray cluster has no GPU"


def cluster_gpus() -> float:
    """GPUs the connected Ray cluster reports, all nodes together."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def is_uri(storage: str | Path) -> bool:
    """Whether `storage` names a filesystem by its scheme (s3://, gs://, ...) rather than being a local path."""
    scheme = urlparse(str(storage)).scheme
    return len(scheme) > 1 and scheme != "file"  # one letter: a Windows drive


def storage_location(storage: str | Path) -> str:
    """What Ray Train's `storage_path` receives: a URI as it is, a path made absolute (and created)."""
    if is_uri(storage):
        return str(storage)
    text = str(storage)
    path = Path(urlparse(text).path if text.startswith("file://") else text).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _reads_marker(path: str, expected: str) -> tuple[str, bool]:
    """(this node's id, whether it reads `expected` in the marker at `path`): run as a task on each node."""
    import ray

    try:
        found = Path(path).read_text() == expected
    except OSError:
        found = False
    return ray.get_runtime_context().get_node_id(), found


def check_storage_on_every_node(storage: str) -> None:
    """Fail with StorageNotShared unless every live node of the connected cluster reads a marker the driver
    writes into `storage` (a local path; URIs are not checked: every node reaches them by construction)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if is_uri(storage):
        return
    marker, token = Path(storage) / STORAGE_MARKER, uuid.uuid4().hex
    marker.write_text(token)
    probe = ray.remote(num_cpus=0)(_reads_marker)
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    try:
        answers = ray.get([probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                          .remote(str(marker), token) for node in nodes], timeout=STORAGE_CHECK_TIMEOUT_S)
    finally:
        marker.unlink(missing_ok=True)
    blind = [node for node, found in answers if not found]
    if blind:
        raise StorageNotShared(
            f"finetune storage {storage} is not visible on {len(blind)} of {len(nodes)} Ray nodes "
            f"({', '.join(b[:12] for b in blind)}): set finetune.storage to a path every node mounts (a shared "
            f"filesystem) or to a URI such as s3://bucket/prefix")


def worker_nodes(world: int) -> list[str]:
    """The Ray node id of every worker, by rank (a collective: every worker calls it)."""
    import ray
    import torch.distributed as dist

    mine = ray.get_runtime_context().get_node_id()
    if world == 1 or not dist.is_initialized():
        return [mine]
    everyone: list[str | None] = [None] * world
    dist.all_gather_object(everyone, mine)
    return [str(node) for node in everyone]
