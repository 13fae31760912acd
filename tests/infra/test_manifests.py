"""The deployment files validate offline: every core Kubernetes manifest against its schema (kubernetes-validate,
strict: unknown fields fail), the KubeRay RayCluster's pod templates as core PodTemplateSpecs and its own fields
against the schema below, the compose file's services and builds; no file holds a secret value."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
COMPOSE = ROOT / "infra" / "compose.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
K8S_VERSION = "1.33.0"  # the Kubernetes version whose schemas kubernetes-validate ships and the manifests target
SECRET_NAME = re.compile(r"PASSWORD|KEY|SECRET|TOKEN|CONNECTION_URL|STORE_URI", re.IGNORECASE)
COMPOSE_SERVICES = {"postgres", "minio", "minio-buckets", "mlflow", "prefect", "prefect-worker", "ray-head",
                    "ray-worker", "gateway"}
PROJECT_IMAGE_SERVICES = {"mlflow", "prefect-worker", "ray-head", "ray-worker", "gateway"}

# The RayCluster fields the project uses (ray.io/v1); the pod templates are checked as core PodTemplateSpecs.
_GROUP = {"type": "object", "required": ["rayStartParams", "template"],
          "properties": {"rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}},
                         "template": {"type": "object"}}}
RAYCLUSTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayCluster"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object", "required": ["rayVersion", "headGroupSpec", "workerGroupSpecs"],
            "additionalProperties": False,
            "properties": {
                "rayVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                "headGroupSpec": {**_GROUP, "additionalProperties": False},
                "workerGroupSpecs": {"type": "array", "minItems": 1, "items": {
                    **_GROUP, "additionalProperties": False,
                    "required": ["groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"],
                    "properties": {**_GROUP["properties"], "groupName": {"type": "string"},
                                   "replicas": {"type": "integer", "minimum": 0},
                                   "minReplicas": {"type": "integer", "minimum": 0},
                                   "maxReplicas": {"type": "integer", "minimum": 1}}}},
            },
        },
    },
}


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _documents() if doc["kind"] == kind]


def _deployment(name: str) -> dict[str, Any]:
    (found,) = [doc for doc in _by_kind("Deployment") if doc["metadata"]["name"] == name]
    return found


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _pod_template(template: dict[str, Any], name: str) -> None:
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name},
                                  "template": template}, K8S_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_every_core_manifest_validates_against_its_schema() -> None:
    core = [doc for doc in _documents() if doc["kind"] not in ("RayCluster", "Kustomization")]
    assert sorted(doc["kind"] for doc in core) == ["ConfigMap", "Deployment", "Deployment", "Deployment",
                                                   "PersistentVolumeClaim", "Service", "Service"]
    for doc in core:
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == "1.33"


def test_the_raycluster_validates_and_its_gpu_group_requests_and_tolerates_gpus() -> None:
    (cluster,) = _by_kind("RayCluster")
    jsonschema.validate(cluster, RAYCLUSTER_SCHEMA)
    spec = cluster["spec"]
    _pod_template(spec["headGroupSpec"]["template"], "head")
    for group in spec["workerGroupSpecs"]:
        _pod_template(group["template"], group["groupName"])
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head["resources"]["limits"]
    (gpu,) = [g for g in spec["workerGroupSpecs"] if g["groupName"] == "gpu"]
    pod = gpu["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_a_broken_manifest_fails_validation() -> None:
    deployment = _deployment("gateway")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    (cluster,) = _by_kind("RayCluster")
    cluster["spec"]["workerGroupSpecs"][0]["rayStartParams"] = {"num-gpus": 1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster, RAYCLUSTER_SCHEMA)


def test_the_gateway_is_ready_on_healthz_at_the_port_it_serves() -> None:
    deployment = _deployment("gateway")
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = int(container["command"][container["command"].index("--port") + 1])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port}
    (service,) = [s for s in _by_kind("Service") if s["metadata"]["name"] == "gateway"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    claims = [v["persistentVolumeClaim"]["claimName"] for v in deployment["spec"]["template"]["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    (pvc,) = _by_kind("PersistentVolumeClaim")
    assert claims == [pvc["metadata"]["name"]] and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_every_secret_named_is_one_the_docs_tell_the_user_to_create() -> None:
    assert _by_kind("Secret") == []
    named = set()
    for node in _walk(_documents()):
        if "secretKeyRef" in node:
            named.add(node["secretKeyRef"]["name"])
        if "secretRef" in node:
            named.add(node["secretRef"]["name"])
        if "secretName" in node:
            named.add(node["secretName"])
    created = set(re.findall(r"create secret generic ([a-z0-9-]+)", DEPLOY_DOC.read_text()))
    assert named == {"llm2slm-master-key", "llm2slm-upstream", "llm2slm-pipeline-key", "llm2slm-keyring",
                     "llm2slm-s3", "llm2slm-mlflow"}
    assert named <= created, f"secrets named but not created in docs/deploy.md: {sorted(named - created)}"


def test_no_manifest_holds_a_secret_value() -> None:
    for node in _walk(_documents()):
        if isinstance(node.get("name"), str) and SECRET_NAME.search(node["name"]) and "value" in node:
            pytest.fail(f"{node['name']} has a literal value in a manifest; use a secretKeyRef")
    (config,) = _by_kind("ConfigMap")
    assert [key for key in config["data"] if SECRET_NAME.search(key)] == []


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_names_every_service_and_builds_the_project_image_from_the_repo_root() -> None:
    services = _compose()["services"]
    assert set(services) == COMPOSE_SERVICES
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services), f"{name} depends on a service that does not exist"
        if name in PROJECT_IMAGE_SERVICES:
            build = service["build"]
            context = (COMPOSE.parent / build["context"]).resolve()
            assert context == ROOT and (context / build["dockerfile"]).resolve() == ROOT / "Dockerfile"
    assert services["gateway"]["command"].split()[:2] == ["llm2slm", "gateway"]
    assert "/healthz" in " ".join(services["gateway"]["healthcheck"]["test"])
    assert services["ray-worker"]["command"].split()[:3] == ["ray", "start", "--address=ray-head:6379"]
    worker_env = services["prefect-worker"]["environment"]
    assert {"PREFECT_API_URL", "MLFLOW_TRACKING_URI", "RAY_ADDRESS", "LLM2SLM_PROJECT", "LLM2SLM_CODE_DIR"} \
        <= set(worker_env)


def test_compose_secrets_come_from_the_env_file_only() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        env = service.get("environment", {})
        leaked = [key for key, value in env.items() if SECRET_NAME.search(key) and "${" not in str(value)]
        assert leaked == [], f"{name}: {leaked} set in infra/compose.yaml; they belong in infra/.env"
    needing = {name for name, s in services.items() if name not in ("prefect",)}
    assert all(services[name]["env_file"] == ".env" for name in needing | {"prefect"})
    example = (ROOT / "infra" / "env.example").read_text()
    values = dict(line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#"))
    assert {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY", "LLM2SLM_MASTER_KEY"} <= set(values)
    assert all("replace-me" in value for value in values.values())
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose is not installed here: the file's structure is checked with PyYAML above")
    env_file = COMPOSE.parent / ".env"
    created = not env_file.exists()
    if created:
        env_file.write_text((COMPOSE.parent / "env.example").read_text())
    try:
        result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                                text=True)
    finally:
        if created:
            env_file.unlink()
    assert result.returncode == 0, result.stderr
