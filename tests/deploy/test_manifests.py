"""The deploy/ files parse and agree with the command (no Docker or cluster runs them here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml

from meshctl.catalog import DEFAULT_PORTS
from meshctl.cli.app import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MESH_ENV = {
    "MESH_REDIS_URL", "MESH_KAFKA_BOOTSTRAP", "MESH_DATABASE_URL", "MESH_JWT_SECRET",
    "MESH_ADMIN_PASSWORD",
}  # fmt: skip


def serve_options() -> set[str]:
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return {opt for param in serve.params for opt in param.opts}


def check_serve_args(args: list[str], service: str) -> None:
    """``serve NAME`` with options the command has, on the service's own port."""
    assert args[:2] == ["serve", service]
    options = [a for a in args[2:] if a.startswith("--")]
    assert set(options) <= serve_options()
    assert args[args.index("--port") + 1] == str(DEFAULT_PORTS[service])


def k8s_documents() -> dict[tuple[str, str], dict[str, Any]]:
    docs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


@pytest.mark.parametrize("service", sorted(DEFAULT_PORTS))
def test_k8s_deployment_serves_the_service_with_probes_and_mesh_settings(service: str):
    docs = k8s_documents()
    spec = docs[("Deployment", service)]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = spec["template"]["spec"]["containers"]
    check_serve_args(container["args"], service)
    assert container["args"][-1] == "$(POD_IP)"  # pods register their own address
    refs = container["envFrom"]
    sources = {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in refs}
    assert sources == {"meshctl"}
    for probe in ("readinessProbe", "livenessProbe"):
        if service == "auth":
            assert container[probe]["httpGet"]["path"] == "/api/v1/auth/health"
        else:
            assert container[probe]["grpc"]["port"] == DEFAULT_PORTS[service]
    assert docs[("Service", service)]["spec"]["ports"][0]["port"] == DEFAULT_PORTS[service]


# An older release that many clusters still run, and the newest the bundled schemas know.
K8S_VERSIONS = ("1.32", kubernetes_validate.latest_version())


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_validate_against_the_kubernetes_schemas(version: str):
    for (kind, name), doc in k8s_documents().items():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{kind}/{name} invalid for Kubernetes {version}: {error.message}")


@pytest.mark.parametrize("service", sorted(DEFAULT_PORTS))
def test_k8s_every_service_has_a_disruption_budget_and_time_to_drain(service: str):
    docs = k8s_documents()
    deployment = docs[("Deployment", service)]["spec"]
    budget = docs[("PodDisruptionBudget", service)]["spec"]
    assert budget["selector"] == deployment["selector"]
    assert budget["maxUnavailable"] == 1  # with one replica a drain may still evict it
    # SIGTERM: deregister, NOT_SERVING, drain for serve's --grace; then the pod is killed.
    grace = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    drain = next(p.default for p in grace.params if p.name == "grace")
    assert deployment["template"]["spec"]["terminationGracePeriodSeconds"] > drain + 5


def test_k8s_metrics_port_is_the_configured_one():
    docs = k8s_documents()
    port = int(docs[("ConfigMap", "meshctl")]["data"]["MESH_METRICS_PORT"])
    for service in DEFAULT_PORTS:
        (container,) = docs[("Deployment", service)]["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"serve": DEFAULT_PORTS[service], "metrics": port}


def test_k8s_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_k8s_config_provides_every_mesh_setting():
    docs = k8s_documents()
    keys = set(docs[("ConfigMap", "meshctl")]["data"]) | set(
        docs[("Secret", "meshctl")]["stringData"]
    )
    assert keys >= MESH_ENV


def test_compose_runs_the_four_services_with_healthchecks_and_infrastructure():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "kafka", "postgres"} <= set(services)
    for name in DEFAULT_PORTS:
        service = services[name]
        check_serve_args(service["command"], name)
        assert set(service["environment"]) >= MESH_ENV
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        probe = " ".join(service["healthcheck"]["test"])
        expected = "/api/v1/auth/health" if name == "auth" else f":{DEFAULT_PORTS[name]}"
        assert expected in probe


def test_dockerfile_installs_the_repository_and_runs_meshctl():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "pip install" in text and 'ENTRYPOINT ["meshctl"]' in text
