"""What a person reads: the conversion's table (on a pipe: no colour codes, nothing cut) and the training
progress line."""

import json
import re

from llm2slm.cli.summary import COLUMNS, print_summary
from llm2slm.common.artifacts import Artifacts
from llm2slm.common.config import load_config
from llm2slm.registry.outcomes import ConversionSummary, TaskOutcome
from llm2slm.training.step_log import ProgressLine

LONG_NAME = "refund request triage with a very long name"  # cut to 28 characters in the table


def _summary() -> ConversionSummary:
    outcomes = [
        TaskOutcome(task_id="task-01", name=LONG_NAME, calls=1234, output_shape="closed_label", decision="specialist",
                    candidate="minilm-classifier", agreement=0.9231, raw_agreement=0.8725, latency_ms_p50=3.25, model_name="llm2slm-task-01",
                    version="3", aliases=["champion", "candidate"]),
        TaskOutcome(task_id="task-02", name="[bold]free text[/bold]", calls=40, output_shape="free_text",
                    decision="llm", reasons=["too few calls (40 < 200)"]),
        TaskOutcome(task_id="task-03", name="tool calls", calls=300, output_shape="tool_call", decision="failed",
                    error="RuntimeError: worker died"),
    ]
    return ConversionSummary(n_calls=1600, n_curated=1580, n_tasks=3, n_outliers=6, data_hashes={},
                             parent_run_id="r1", outcomes=outcomes)


def test_the_summary_table_on_a_pipe_is_plain_and_whole(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # a narrow terminal setting must not cut a table printed to a pipe
    cfg = load_config(tmp_path)
    print_summary(_summary(), cfg, answer_key=None)
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["task"])
    assert re.split(r"\s{2,}", header.strip()) == list(COLUMNS)  # "agreement raw" is one column
    row = next(line for line in lines if line.strip().startswith("task-01"))
    assert re.split(r"\s{2,}", row.strip()) == ["task-01", LONG_NAME, "1234", "closed_label", "minilm-classifier",
                                                "92.3%", "87.2%", "3.2 ms", "3", "champion,candidate"]
    kept = next(line for line in lines if line.strip().startswith("task-02"))
    assert re.split(r"\s{2,}", kept.strip())[5:8] == ["-", "-", "-"]  # no agreement, raw or not, nor latency
    assert "[bold]free text[/bold]" in out and "LLM (kept)" in out  # task names are not rich markup
    assert "task-02 stays on the LLM: too few calls (40 < 200)" in out
    assert "task-03 failed: RuntimeError: worker died" in out
    assert "make ui" in out and "adjusted Rand index" not in out
    written = Artifacts(cfg.paths).last_summary
    assert f"summary: {written}" in out
    assert json.loads(written.read_text())["outcomes"][0]["version"] == "3"


def test_the_summary_scores_discovery_against_an_answer_key(tmp_path, capsys):
    import numpy as np

    from llm2slm.discovery.catalogue import write_assignments

    cfg = load_config(tmp_path)
    ids = [f"c{i}" for i in range(6)]
    write_assignments(ids, ["task-01"] * 3 + ["task-02"] * 3, np.ones(6), Artifacts(cfg.paths).assignments)
    print_summary(_summary(), cfg, answer_key={i: ("a" if n < 3 else "b") for n, i in enumerate(ids)})
    assert "task discovery vs the answer key: adjusted Rand index 1.000" in capsys.readouterr().out


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_progress_line_comes_at_most_every_interval_with_speed_and_time_left():
    lines: list[str] = []
    clock = _Clock()
    progress = ProgressLine("finetune task-01 minilm-classifier", total_steps=600, examples_per_step=32,
                            sink=lines.append, every_s=20.0, clock=clock)
    for step in range(1, 601):
        clock.now = 10.0 + step * 0.5  # seconds: 2 steps/s after a 10 s start-up
        progress.update(step, loss=1.0 if step <= 41 else 0.5)
    assert lines[0] == "finetune task-01 minilm-classifier: step 1/600 (0%), loss 1"
    assert lines[1] == "finetune task-01 minilm-classifier: step 41/600 (7%), loss 1, 64 examples/s, ~5 min left"
    assert lines[2].startswith("finetune task-01 minilm-classifier: step 81/600 (14%), loss 0.5, 64 examples/s")
    assert lines[-1] == ("finetune task-01 minilm-classifier: step 600/600 (100%), loss 0.5, 64 examples/s, "
                         "trained in 5 min")
    assert len(lines) == 2 + (600 - 41) // 40 + 1  # one line per 20 s (40 steps), plus the first and the last


def test_a_progress_sink_that_fails_turns_the_line_off_not_the_training():
    calls = []

    def broken(line: str) -> None:
        calls.append(line)
        raise ConnectionError("the driver is gone")

    clock = _Clock()
    progress = ProgressLine("finetune t c", 10, 1, sink=broken, every_s=0.0, clock=clock)
    for step in range(1, 11):
        clock.now = step
        progress.update(step, 0.1)
    assert len(calls) == 1


def test_rank_zeros_progress_lines_reach_the_driver_through_the_relay(caplog):
    """Through a real local Ray (started with log_to_driver=False, as fine_tune does): a remote worker's lines
    are logged by the driver, and the relay's queue actor needs no CPU (a 1-CPU Ray still runs the worker)."""
    import logging
    import tempfile

    import ray

    from llm2slm.training.step_log import ProgressRelay, StepLogger

    @ray.remote(num_cpus=1)
    def worker(handle: dict) -> int:
        steps_log = StepLogger.open(None, rank=0, world_size=1, progress=handle, total_steps=3, examples_per_step=8)
        for step in (1, 2, 3):
            steps_log.add(step, loss=0.5, learning_rate=1e-3, tokens=100.0, seconds=0.1)
        StepLogger.open(None, rank=1, world_size=2, progress=handle, total_steps=3).add(3, 9.0, 1e-3, 1.0, 0.1)
        return step

    caplog.set_level(logging.INFO, logger="llm2slm.finetune")
    ray.init(num_cpus=1, include_dashboard=False, object_store_memory=128 * 1024**2, log_to_driver=False,
             _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
    try:
        with ProgressRelay("finetune task-01 tiny", every_s=3600.0) as relay:
            assert ray.get(worker.remote(relay.handle), timeout=120) == 3
    finally:
        ray.shutdown()
    lines = [r.getMessage() for r in caplog.records if r.name == "llm2slm.finetune"]
    assert lines[0] == "finetune task-01 tiny: step 1/3 (33%), loss 0.5"
    assert lines[1].startswith("finetune task-01 tiny: step 3/3 (100%), loss 0.5, ") and "trained in" in lines[1]
    assert len(lines) == 2  # one per interval (an hour here) plus the last step; rank 1 sends nothing


def test_slow_rates_keep_two_significant_digits():
    from llm2slm.training.step_log import rate_text

    assert [rate_text(r) for r in (64.4, 10.0, 9.46, 0.2049, 0.0)] == ["64", "10", "9.5", "0.2", "0"]
