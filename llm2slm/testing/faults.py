"""Fault injection for the fine-tuning tests: a Ray worker that dies mid-run, or a whole Ray node, to prove that
training resumes from its last checkpoint. The training loop knows nothing of it; a test hands it in as the loop's
step hook:

    fine_tune(..., step_hook=functools.partial(maybe_fail, FaultInjection(rank=1, step=5)))
    fine_tune(..., step_hook=functools.partial(maybe_kill_node, NodeFailure(node_id=..., session_id=..., step=5)))
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from llm2slm.training.checkpoint import TrainProgress

log = logging.getLogger("llm2slm.train")


class FaultInjection(BaseModel):
    """Worker `rank` exits abruptly after optimizer step `step` of the run's first attempt.

    It first hangs for `hang_s`: Ray Train's controller collects reports when it polls the workers (every 2 s),
    so a checkpoint reported just before a crash can be lost and the run would resume from the one before."""

    rank: int = Field(ge=0)
    step: int = Field(ge=1)
    hang_s: float = Field(3.0, ge=0, description="seconds the worker hangs before it exits")


def maybe_fail(fault: FaultInjection, rank: int, progress: TrainProgress) -> None:
    """Kill this worker process (no clean-up, as a crash would) when the fault injection says so."""
    if fault.rank == rank and fault.step == progress.step and len(progress.attempt_start_steps) == 1:
        log.warning("fault injection: worker %d exits after step %d", rank, progress.step)
        time.sleep(fault.hang_s)
        os._exit(1)


class NodeFailure(BaseModel):
    """The Ray node `node_id` fails after optimizer step `step` of the run's first attempt: its worker SIGKILLs
    every process of the node (the session `session_id` that its `ray start` leads: raylet, agents, workers),
    itself last, after hanging `hang_s` as `FaultInjection` does."""

    node_id: str = Field(min_length=1)
    session_id: int = Field(ge=1)
    step: int = Field(ge=1)
    hang_s: float = Field(3.0, ge=0, description="seconds the worker hangs before the node is killed")


def maybe_kill_node(failure: NodeFailure, rank: int, progress: TrainProgress) -> None:
    """Kill the whole node this worker runs on when the failure says so (other workers and steps: nothing)."""
    if failure.step != progress.step or len(progress.attempt_start_steps) != 1:
        return
    import ray

    from llm2slm.testing.ray_cluster import session_pids

    if ray.get_runtime_context().get_node_id() != failure.node_id:
        return
    log.warning("fault injection: node %s fails after step %d (worker %d)", failure.node_id[:12], progress.step, rank)
    time.sleep(failure.hang_s)
    others = [pid for pid in session_pids(failure.session_id) if pid != os.getpid()]
    for pid in others:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.kill(os.getpid(), signal.SIGKILL)
