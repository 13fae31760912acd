"""Real fine-tuning: Ray Train workers, PEFT LoRA on MiniLM, a tiny generator, the span tagger resuming after a
killed worker, MLflow round trips."""

from __future__ import annotations

import functools
import json
import random
import tempfile

import pytest

from llm2slm.training.catalogue import default_catalogue_path, find_candidate, load_catalogue
from llm2slm.training.recipe import Recipe, recipe_for, task_stats_from_dir

pytestmark = pytest.mark.slow

TOPICS = {
    "card_arrival": ["where is my new card", "my card has not arrived yet", "when will the card be delivered"],
    "exchange_rate": ["what is the exchange rate", "how much is one euro in dollars", "currency conversion rate"],
    "lost_card": ["i lost my card", "my card was stolen", "someone took my wallet with the card"],
}


def _write_task(folder, rows_by_part):
    folder.mkdir(parents=True, exist_ok=True)
    for part, rows in rows_by_part.items():
        (folder / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _label_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(sorted(TOPICS))
        text = rng.choice(TOPICS[label]) + rng.choice(["", " please", " today", "?", " thanks"])
        rows.append({"id": f"c{seed}-{i}", "messages": [{"role": "system", "content": "Triage."},
                                                        {"role": "user", "content": text}],
                     "tools": None, "answer": label})
    return rows


def _json_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        people = rng.randint(2, 9)
        rows.append({"id": f"g{seed}-{i}", "messages": [{"role": "user", "content": f"a table for {people} people"}],
                     "tools": None, "answer": json.dumps({"people": f"{people} people"})})
    return rows


@pytest.fixture(scope="module")
def ray_session():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2,
             _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"), log_to_driver=False)
    yield
    ray.shutdown()


def test_classifier_learns_with_two_workers_and_round_trips_through_mlflow(tmp_path, ray_session):
    import mlflow

    from llm2slm.serving.specialist import Specialist
    from llm2slm.training.mlflow_log import log_specialist
    from llm2slm.training.train import fine_tune

    task = _write_task(tmp_path / "task", {"train": _label_rows(90, 1), "val": _label_rows(15, 2),
                                           "test": _label_rows(30, 3)})
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "minilm-classifier")
    recipe = recipe_for(candidate, task_stats_from_dir(task), epochs=6)
    assert recipe.method == "lora" and sorted(recipe.labels) == sorted(TOPICS)
    result = fine_tune(recipe, task, tmp_path / "model", num_workers=2, use_gpu=False,
                       storage_path=tmp_path / "runs")
    assert result.n_train == 90 and len(result.history) == 6
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    test = [json.loads(line) for line in (task / "test.jsonl").read_text().splitlines()]
    predicted = Specialist.load(result.model_dir).predict_rows(test)
    accuracy = sum(p == r["answer"] for p, r in zip(predicted, test, strict=True)) / len(test)
    assert accuracy > 0.6  # chance is 1/3

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        uri = log_specialist(result.model_dir)
    loaded = mlflow.pyfunc.load_model(uri)
    assert loaded.predict([{"messages": r["messages"], "tools": None} for r in test[:5]]) == predicted[:5]


def test_tiny_generator_trains_saves_and_generates(tmp_path, ray_session):
    from llm2slm.serving.specialist import Specialist
    from llm2slm.training.train import fine_tune

    task = _write_task(tmp_path / "task", {"train": _json_rows(40, 1), "val": _json_rows(8, 2)})
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "tiny-generator")
    recipe = recipe_for(candidate, task_stats_from_dir(task), epochs=2)
    assert recipe.method == "full" and recipe.kind == "generator"
    result = fine_tune(recipe, task, tmp_path / "model", num_workers=1, use_gpu=False,
                       storage_path=tmp_path / "runs")
    meta = json.loads((result.model_dir / "specialist.json").read_text())
    assert meta["kind"] == "generator" and (result.model_dir / "tokenizer.json").is_file()
    answers = Specialist.load(result.model_dir).predict_rows(_json_rows(3, 9))
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)

    # registered with the promotion gate, then served by alias: the same answers come back
    import mlflow

    from llm2slm.registry.versions import load_policy, model_name, register_version
    from llm2slm.training.mlflow_log import log_specialist

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        model_uri = log_specialist(result.model_dir)
    policy = default_catalogue_path().parents[1] / "mlflow" / "promotion_policy.yaml"
    metrics = {"agreement": 1.0, "agreement_non_majority": 1.0, "json_valid": 1.0, "field_f1": 1.0,
               "latency_ms_p95": 1.0}
    version = register_version(uri, model_name("llm2slm", "task-09"), "task-09", model_uri, "json", metrics, {},
                               load_policy(policy))
    assert load_policy(policy).mode != "auto" or "champion" in version.aliases
    alias = "champion" if "champion" in version.aliases else "challenger"
    served = mlflow.pyfunc.load_model(f"models:/{version.name}@{alias}")
    assert served.predict([{"messages": r["messages"], "tools": None} for r in _json_rows(3, 9)]) == answers


def test_span_tagger_resumes_after_a_worker_dies_logs_steps_and_round_trips(tmp_path, ray_session):
    import mlflow
    from mlflow import MlflowClient

    from llm2slm.serving.specialist import Specialist
    from llm2slm.testing.faults import FaultInjection, maybe_fail
    from llm2slm.training.mlflow_log import log_specialist
    from llm2slm.training.train import fine_tune
    from tests.training.slot_rows import slot_rows

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = MlflowClient(uri).create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = MlflowClient(uri).create_run(experiment).info.run_id
    task = _write_task(tmp_path / "task", {"train": slot_rows(48, 1), "val": slot_rows(16, 2)})
    candidate = find_candidate(load_catalogue(default_catalogue_path()), "minilm-span-tagger")
    # 2 workers x 4 rows per step: 6 steps per epoch, 24 in all; a checkpoint every 3 steps; rank 1 dies after step 5
    recipe = recipe_for(candidate, task_stats_from_dir(task), epochs=4, batch_size=8, checkpoint_every_steps=3)
    result = fine_tune(recipe, task, tmp_path / "model", num_workers=2, use_gpu=False,
                       storage_path=tmp_path / "runs", max_failures=1,
                       step_hook=functools.partial(maybe_fail, FaultInjection(rank=1, step=5)),
                       mlflow_run={"tracking_uri": uri, "run_id": run_id})
    assert result.attempt_start_steps == [0, 3]  # the second attempt resumed at the checkpointed step, not 0
    assert result.steps == 24 and len(result.history) == 4 and result.rows_skipped == 0
    assert result.history[-1]["val_token_accuracy"] > 0.8

    losses = MlflowClient(uri).get_metric_history(run_id, "train.step_loss")  # flushed at checkpoints and epoch ends
    assert {m.step for m in losses} == set(range(1, 25))
    assert all(m.value > 0 for m in MlflowClient(uri).get_metric_history(run_id, "train.tokens_per_s"))
    assert (result.model_dir / "adapter" / "adapter_config.json").is_file()  # LoRA: the adapter, not merged weights

    test = slot_rows(30, 3)
    predicted = Specialist.load(result.model_dir).predict_rows(test)
    assert all(set(json.loads(p)) <= set(recipe.fields) for p in predicted)
    assert sum(p == r["answer"] for p, r in zip(predicted, test, strict=True)) >= 20  # exact JSON, of 30
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=experiment):
        loaded = mlflow.pyfunc.load_model(log_specialist(result.model_dir))
    assert loaded.predict([{"messages": r["messages"], "tools": None} for r in test[:4]]) == predicted[:4]


def test_recipe_errors_name_the_field():
    with pytest.raises(ValueError, match="labels"):
        Recipe(kind="classifier", base_model="all-MiniLM-L6-v2", labels=["only-one"])
    with pytest.raises(ValueError, match="method"):
        Recipe(kind="generator", base_model="tiny:llama", method="lora")
    with pytest.raises(ValueError, match="label_smoothing"):
        Recipe(kind="classifier", base_model="all-MiniLM-L6-v2", labels=["a", "b"], label_smoothing=1.0)
    with pytest.raises(ValueError, match="label_smoothing: only a classifier"):
        Recipe(kind="generator", base_model="tiny:llama", method="full", label_smoothing=0.1)


def test_label_smoothing_softens_a_classifier_loss_only():
    import torch

    from llm2slm.training.steps import loss_of

    class Fixed(torch.nn.Module):
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = logits

        def forward(self, **_: torch.Tensor) -> torch.Tensor:
            return self.logits

    confident = Fixed(torch.tensor([[9.0, -9.0, -9.0]]))  # right and sure: near-zero plain loss
    batch = {"input_ids": torch.zeros(1, 2, dtype=torch.long), "labels": torch.tensor([0])}
    plain, _ = loss_of(confident, batch, "classifier")
    smoothed, _ = loss_of(confident, batch, "classifier", label_smoothing=0.1)
    assert plain.item() < 1e-6 and smoothed.item() > 1.0  # smoothing penalises over-confidence
    tagger = Fixed(torch.tensor([[[9.0, -9.0, -9.0]]]))
    tags = {"input_ids": torch.zeros(1, 1, dtype=torch.long), "labels": torch.tensor([[0]])}
    assert loss_of(tagger, tags, "span_tagger", label_smoothing=0.1)[0].item() < 1e-6
