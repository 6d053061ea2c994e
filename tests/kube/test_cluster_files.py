"""The checked-in cluster files: YAML parses and agrees with itself and the code, scripts parse."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.kube.cluster import KIND_DIR, KIND_GCS_EMULATOR_HOST, KIND_GCS_EMULATOR_IN_CLUSTER, REPO_ROOT

CLUSTERS = REPO_ROOT / "clusters"
SCRIPTS = sorted(CLUSTERS.rglob("*.sh"))


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@pytest.mark.parametrize("path", sorted(CLUSTERS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CLUSTERS)))
def test_every_yaml_parses_into_kubernetes_objects(path):
    for doc in docs(path):
        assert doc.get("apiVersion") and doc.get("kind"), f"{path}: a document without apiVersion/kind"


def test_kind_config_publishes_the_emulator_nodeport_on_loopback():
    (config,) = docs(KIND_DIR / "kind-config.yaml")
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    mappings = [m for node in config["nodes"] for m in node.get("extraPortMappings", [])]
    service = next(d for d in docs(KIND_DIR / "gcs-emulator.yaml") if d["kind"] == "Service")
    (port,) = service["spec"]["ports"]
    assert service["spec"]["type"] == "NodePort"
    assert {"containerPort": port["nodePort"], "hostPort": int(KIND_GCS_EMULATOR_HOST.rsplit(":", 1)[1]),
            "listenAddress": "127.0.0.1", "protocol": "TCP"} in mappings
    ns, name = service["metadata"]["namespace"], service["metadata"]["name"]
    assert KIND_GCS_EMULATOR_IN_CLUSTER == f"http://{name}.{ns}.svc.cluster.local:{port['port']}"


def test_emulator_deployment_listens_where_the_service_points():
    deployment = next(d for d in docs(KIND_DIR / "gcs-emulator.yaml") if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][:1] == ["start"] and "--in-memory" in container["args"]
    assert container["args"][container["args"].index("--port") + 1] == "9023"
    assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"
    assert deployment["spec"]["selector"]["matchLabels"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_install_script_pins_versions_and_points_the_storage_initializer_at_the_emulator():
    text = (KIND_DIR / "install-kserve.sh").read_text()
    assert re.search(r'KSERVE_VERSION="\$\{KSERVE_VERSION:-v\d+\.\d+\.\d+\}"', text)
    assert re.search(r'CERT_MANAGER_VERSION="\$\{CERT_MANAGER_VERSION:-v\d+\.\d+\.\d+\}"', text)
    assert f'EMULATOR_URL="{KIND_GCS_EMULATOR_IN_CLUSTER}"' in text
    assert "STORAGE_EMULATOR_HOST" in text and "clusterstoragecontainer default" in text
    assert '\\"defaultDeploymentMode\\":\\"RawDeployment\\"' in text


@pytest.mark.skipif(not shutil.which("bash"), reason="bash is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(CLUSTERS)))
def test_scripts_parse_and_are_executable(script):
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert script.stat().st_mode & 0o111, f"{script} is not executable"
    assert "set -euo pipefail" in script.read_text()
