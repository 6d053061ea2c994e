"""A kind cluster gets the ModelServer image the harness builds itself: `docker build` when the engine
lacks it, then `kind load docker-image` (kind nodes cannot pull a local image). Docker and kind
cannot run here, so stand-in executables on PATH record the commands the real ones would get."""
from __future__ import annotations

import os
import stat

import pytest

from harness.kube.cluster import KindCluster
from harness.runtimes.registry import RUNTIMES
from harness.spec import load_scenario
from tests.helpers import SCENARIOS


@pytest.fixture
def fake_engine(tmp_path, monkeypatch):
    """Fake `docker` and `kind` that log their argv; `docker image inspect` fails unless `have` exists."""
    log = tmp_path / "calls.log"
    for name in ("docker", "kind"):
        exe = tmp_path / "bin" / name
        exe.parent.mkdir(exist_ok=True)
        exe.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n'
                       f'if [ "$1 $2" = "image inspect" ] && [ ! -e {tmp_path}/have ]; then exit 1; fi\n')
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return log, tmp_path / "have"


def test_the_modelserver_image_is_built_then_loaded(fake_engine, tmp_path):
    log, _ = fake_engine
    spec = load_scenario(SCENARIOS / "digits-kserve.yaml")
    build = RUNTIMES["kserve"].image_build(spec)
    assert build.reference == "kserve-harness/kserve-modelserver:0.21.0"
    assert (build.context / "Dockerfile").is_file()
    KindCluster("kh", kubeconfig_path=tmp_path / "kc").load_image(build)
    calls = log.read_text().splitlines()
    assert calls[0] == "docker image inspect kserve-harness/kserve-modelserver:0.21.0"
    assert calls[1].startswith("docker build ") and "--build-arg KSERVE_VERSION=0.21.0" in calls[1]
    assert calls[1].endswith(f"-t kserve-harness/kserve-modelserver:0.21.0 {build.context}")
    assert calls[2] == "kind load docker-image kserve-harness/kserve-modelserver:0.21.0 --name kh"


def test_an_image_the_engine_has_is_only_loaded(fake_engine, tmp_path):
    log, have = fake_engine
    have.touch()
    spec = load_scenario(SCENARIOS / "digits-kserve.yaml")
    KindCluster("kh", kubeconfig_path=tmp_path / "kc").load_image(RUNTIMES["kserve"].image_build(spec))
    assert [c.split()[1] for c in log.read_text().splitlines()] == ["image", "load"]


def test_no_build_for_a_users_image_or_torchserve():
    spec = load_scenario(SCENARIOS / "digits-kserve.yaml")
    spec.kubernetes.image = "registry.example.com/me/modelserver:1"
    assert RUNTIMES["kserve"].image_build(spec) is None
    assert RUNTIMES["torchserve"].image_build(load_scenario(SCENARIOS / "digits.yaml")) is None
