"""The checked-in cluster files: YAML parses and agrees with itself and the code, scripts parse."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fakes.kserve_objects import STORAGE_INITIALIZER_IMAGE
from harness.kube.cluster import KIND_DIR, KIND_GCS_EMULATOR_HOST, KIND_GCS_EMULATOR_IN_CLUSTER, REPO_ROOT, kind_pins

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
    # Every pin comes from versions.env: no release number is written into the script itself.
    assert 'KSERVE_VERSION="${KSERVE_VERSION:-$(pinned KSERVE_VERSION)}"' in text
    assert 'CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-$(pinned CERT_MANAGER_VERSION)}"' in text
    assert not re.search(r"v\d+\.\d+\.\d+", text)
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


# sha256 of config/crd/full/serving.kserve.io_inferenceservices.yaml at each KServe release
# (kserve/kserve, read at the tags): v0.20.0's is also the CRD of commit aaac4e294 (../shared/kserve).
RELEASE_CRD_SHA256 = {
    "v0.15.2": "43bcb3aef9c6308135ef122f48800230058b710eae98c26ff03da29940525e4e",
    "v0.19.0": "b6c30a83b771f791e5de3a30d46ddd2f44e3caeffdc8c132e7c8c145ab209dae",
    "v0.20.0": "57c3bf13f77de94678bf2ae3748056ec071ad2b9e88d6a28f44fb4710758fcff",
}


@pytest.mark.skipif(not shutil.which("bash"), reason="bash is not installed")
def test_the_install_script_installs_the_pinned_releases():
    env = {k: v for k, v in os.environ.items() if k not in kind_pins()}  # no overrides
    out = subprocess.run(["bash", str(KIND_DIR / "install-kserve.sh"), "--print-versions"], capture_output=True,
                         text=True, timeout=30, env=env, check=True).stdout
    assert dict(line.split("=", 1) for line in out.splitlines()) == kind_pins()


def test_kind_installs_the_kserve_release_whose_crd_the_manifests_are_validated_against(crd_path):
    version = kind_pins()["KSERVE_VERSION"]
    assert version in RELEASE_CRD_SHA256, f"add {version}'s InferenceService CRD sha256 to RELEASE_CRD_SHA256"
    digest = hashlib.sha256(crd_path.read_bytes()).hexdigest()
    assert digest == RELEASE_CRD_SHA256[version], (
        f"{crd_path} is not KServe {version}'s CRD: bump clusters/kind/versions.env or the CRD together")


def test_the_fake_cluster_uses_the_pinned_kserve_release():
    assert STORAGE_INITIALIZER_IMAGE.rsplit(":", 1)[1] == kind_pins()["KSERVE_VERSION"]
