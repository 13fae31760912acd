"""What a run asks of its Ray cluster, without one: GPU use from the cluster's resources, where storage is."""

from llm2slm.training.cluster import check_storage_on_every_node, is_uri, resolve_use_gpu, storage_location


def test_auto_uses_gpus_only_when_every_worker_gets_one():
    assert resolve_use_gpu("auto", 0.0, 2)[0] is False
    assert resolve_use_gpu("auto", 1.0, 2) == (False, "the Ray cluster has 1 GPU(s) for 2 workers: training on CPU "
                                                      "(set finetune.num_workers to 1 to use them)")
    assert resolve_use_gpu("auto", 2.0, 2)[0] is True
    assert resolve_use_gpu("auto", 8.0, 2)[0] is True


def test_true_and_false_force_it_whatever_the_cluster_has():
    assert resolve_use_gpu(True, 0.0, 2)[0] is True
    assert resolve_use_gpu(False, 8.0, 2)[0] is False


def test_uris_pass_as_they_are_and_paths_become_absolute(tmp_path, monkeypatch):
    assert is_uri("s3://bucket/runs") and is_uri("gs://b/p") and not is_uri("/mnt/runs") and not is_uri("runs")
    assert not is_uri("file:///mnt/runs")
    assert storage_location("s3://bucket/runs?endpoint_override=minio:9000") == "s3://bucket/runs?endpoint_override=minio:9000"
    monkeypatch.chdir(tmp_path)
    assert storage_location("runs") == str(tmp_path / "runs") and (tmp_path / "runs").is_dir()
    assert storage_location((tmp_path / "other").as_uri()) == str(tmp_path / "other")
    check_storage_on_every_node("s3://bucket/runs")  # a URI: nothing to check, no Ray needed
