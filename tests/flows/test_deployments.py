"""infra/prefect.yaml: each deployment names a flow that imports, a process work pool and a valid cron schedule."""

from __future__ import annotations

import importlib

import pytest
import yaml


@pytest.fixture(scope="module")
def deployments(repo_root):
    return {d["name"]: d for d in yaml.safe_load((repo_root / "infra" / "prefect.yaml").read_text())["deployments"]}


def test_the_convert_and_retrain_deployments_are_scheduled_on_one_pool(deployments):
    assert set(deployments) == {"convert-weekly", "retrain-nightly"}
    assert {d["work_pool"]["name"] for d in deployments.values()} == {"llm2slm"}


@pytest.mark.parametrize("name,flow_name", [("convert-weekly", "convert"), ("retrain-nightly", "retrain")])
def test_each_entrypoint_is_the_flow_and_its_cron_is_valid(deployments, name, flow_name):
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.flows import Flow

    deployment = deployments[name]
    path, function = deployment["entrypoint"].split(":")
    flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), function)
    assert isinstance(flow, Flow) and flow.name == flow_name
    (schedule,) = deployment["schedules"]
    assert CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"]).cron == schedule["cron"]
    with pytest.raises(ValueError):
        CronSchedule(cron="61 * * * *", timezone="UTC")


def test_a_run_starts_in_the_code_folder_on_the_project_given_at_registration(repo_root):
    """The code folder ($LLM2SLM_CODE_DIR, read on the worker at run time) and the project ($LLM2SLM_PROJECT, read by
    `prefect deploy`) may differ: the entrypoints resolve in the one, the flows read params.yaml from the other."""
    spec = yaml.safe_load((repo_root / "infra" / "prefect.yaml").read_text())
    (step,) = spec["pull"]
    assert step == {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $LLM2SLM_CODE_DIR }}"}}
    assert [d["parameters"] for d in spec["deployments"]] == [{"project_dir": "{{ $LLM2SLM_PROJECT }}"}] * 2
