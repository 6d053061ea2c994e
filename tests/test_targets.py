"""Targets: entered first, asked where to upload, and failing within seconds, naming what is missing.

The CLI cases run the real `harness run` in a subprocess with a PATH that lacks kind (or Docker
and Podman), or with a kubeconfig whose API server port has nothing listening: each exits 2 within
10 s, says why in one line, and leaves a report.json that shows nothing was built or uploaded.
The storage cases use the real target classes: against the FAKE API server (tests/fakes), with an
ApiClient aimed at an address that is never contacted, and the local target's private emulator.
Nothing here uploads anything or leaves this machine.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from kubernetes import client as kclient

from harness.errors import EXIT_USAGE, ConfigError, EnvironmentProblem
from harness.kube.cluster import KIND_GCS_EMULATOR_HOST, KindCluster, load_api_client
from harness.progress import Progress
from harness.targets.base import StorageSite, Target
from harness.targets.kubernetes import KubernetesTarget
from harness.targets.local import LocalTarget
from harness.targets.registry import CLUSTER_TARGETS, TARGET_NAMES, make_target
from harness.targets.settings import TargetSettings
from harness.waits import free_port
from tests.fakes import FakeKubeApiServer
from tests.helpers import REPO, SCENARIOS, eventually, processes_touching
from tests.helpers import offline_gcs_credentials as write_offline_gcs_credentials

FAIL_FAST_S = 10.0  # the bound: a missing kind/engine/API server is said within seconds
CLI_TIMEOUT_S = 60.0  # the subprocess's hard limit, so a hang fails the test instead of stalling it
NOT_BUILT = {"archive", "upload", "deploy", "warm-up", "checks", "load"}


# --- the real CLI, with a controlled PATH ------------------------------------------------------------

def _bin_dir(tmp_path: Path) -> Path:
    """A bin dir holding only what the run needs besides kind: python (a symlink)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "python3").symlink_to(sys.executable)
    return bin_dir


def _path(bin_dir: Path) -> str:
    return os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])


def _run_cli(tmp_path: Path, bin_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float, dict, Path]:
    """`harness run scenarios/digits.yaml ARGS` with PATH = bin_dir:/usr/bin:/bin; returns
    (process, wall seconds, report.json, cache dir)."""
    reports, cache = tmp_path / "reports", tmp_path / "cache"
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS")}
    env["PATH"] = _path(bin_dir)
    cmd = [sys.executable, "-m", "harness.cli", "run", str(SCENARIOS / "digits.yaml"),
           "--report-dir", str(reports), "--cache-dir", str(cache), *args]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    elapsed = time.monotonic() - start
    found = list(reports.glob("*/report.json"))
    assert len(found) == 1, (found, done.stdout, done.stderr)
    return done, elapsed, json.loads(found[0].read_text()), cache


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines, "stderr is empty"
    return lines[-1]


def _assert_nothing_built(report: dict, cache: Path) -> None:
    phases = [p["name"] for p in report["phases"]]
    assert phases[0] == "target" and report["phases"][0]["status"] == "failed", phases
    assert not NOT_BUILT & set(phases), phases  # the target failed before anything was built or uploaded
    assert not report.get("storage"), report.get("storage")
    assert not report.get("archive"), report.get("archive")
    assert not cache.exists() or not any(cache.rglob("*.mar")), sorted(cache.rglob("*"))


def test_kind_missing_fails_fast_before_building(tmp_path):
    bin_dir = _bin_dir(tmp_path)
    assert shutil.which("kind", path=_path(bin_dir)) is None
    done, elapsed, report, cache = _run_cli(tmp_path, bin_dir, "--target", "kind")
    print(f"kind missing: exit {done.returncode} in {elapsed:.2f}s")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert elapsed < FAIL_FAST_S, elapsed
    last = _last_line(done.stderr)
    assert "`kind`" in last and "install kind" in last and "kind.sigs.k8s.io" in last, last
    assert "Traceback" not in done.stderr
    assert report["exit_code"] == EXIT_USAGE
    assert report["error"]["type"] == "EnvironmentProblem" and "kind" in report["error"]["what"], report["error"]
    assert "\n" not in report["error"]["line"]
    _assert_nothing_built(report, cache)


def test_kind_without_container_engine_fails_fast(tmp_path):
    bin_dir = _bin_dir(tmp_path)
    kind = bin_dir / "kind"
    kind.write_text("#!/bin/sh\nexit 1\n")
    kind.chmod(0o755)
    path = _path(bin_dir)
    assert shutil.which("kind", path=path) == str(kind)
    assert shutil.which("docker", path=path) is None and shutil.which("podman", path=path) is None
    done, elapsed, report, cache = _run_cli(tmp_path, bin_dir, "--target", "kind")
    print(f"kind without docker/podman: exit {done.returncode} in {elapsed:.2f}s")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert elapsed < FAIL_FAST_S, elapsed
    last = _last_line(done.stderr)
    assert "Docker" in last or "Podman" in last, last
    assert "Traceback" not in done.stderr
    assert report["error"]["type"] == "EnvironmentProblem", report["error"]
    assert "docker" in report["error"]["what"].lower() or "podman" in report["error"]["what"].lower()
    _assert_nothing_built(report, cache)


def test_kubeconfig_server_not_listening_fails_fast(tmp_path):
    port = free_port()  # bound, then closed: nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "dead", "user": {}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead"}}]}))
    bin_dir = _bin_dir(tmp_path)
    done, elapsed, report, cache = _run_cli(tmp_path, bin_dir, "--target", "kubeconfig", "--kubeconfig", str(kubeconfig))
    print(f"kubeconfig server not listening: exit {done.returncode} in {elapsed:.2f}s")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert elapsed < FAIL_FAST_S, elapsed
    address = re.compile(rf"127\.0\.0\.1:{port}(?!\d)")
    last = _last_line(done.stderr)
    assert address.search(last) and "not reachable" in last, last
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("environment error:")]
    assert errors == [last], done.stderr  # one line, not a traceback or a retry log
    assert "Traceback" not in done.stderr
    assert report["error"]["type"] == "EnvironmentProblem" and "\n" not in report["error"]["line"]
    assert address.search(report["error"]["line"]), report["error"]
    _assert_nothing_built(report, cache)


# --- where cluster targets upload --------------------------------------------------------------------

@pytest.fixture
def offline_gcs_credentials(tmp_path, monkeypatch):
    """Service-account credentials whose token endpoint is a closed local port: GcsStore.for_gcs()
    can be built, and any upload would fail on this machine instead of reaching Google."""
    creds = write_offline_gcs_credentials(tmp_path / "sa.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(creds))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    return creds


@pytest.fixture
def fake_api(tmp_path):
    with FakeKubeApiServer() as server:
        api = load_api_client(server.write_kubeconfig(tmp_path / "kubeconfig", context="fake-kube"), "fake-kube")
        try:
            yield api
        finally:
            api.close()


def test_kubeconfig_target_uploads_to_real_gcs_by_default(fake_api, offline_gcs_credentials):
    site = KubernetesTarget(fake_api, "kubeconfig", "r").storage()
    assert isinstance(site, StorageSite)
    assert site.backend == "gcs" and site.emulator_host is None and site.store.emulator_host is None


def test_loopback_emulator_is_used_when_the_api_server_is_local(fake_api):
    assert urlparse(fake_api.configuration.host).hostname == "127.0.0.1"
    site = KubernetesTarget(fake_api, "kubeconfig", "r", storage_emulator_host="http://127.0.0.1:9999").storage()
    assert site.backend == "gcs-emulator"
    assert site.emulator_host == "http://127.0.0.1:9999" and site.store.emulator_host == "http://127.0.0.1:9999"


def test_loopback_emulator_with_a_remote_cluster_is_a_config_error():
    # Nothing is contacted: the ApiClient is only asked for its configured host.
    api = kclient.ApiClient(kclient.Configuration(host="https://10.1.2.3:6443"))
    try:
        target = KubernetesTarget(api, "kubeconfig", "r", storage_emulator_host="http://127.0.0.1:9999")
        with pytest.raises(ConfigError) as info:
            target.storage()
    finally:
        api.close()
    line = info.value.one_line()
    assert "\n" not in line
    assert "emulator" in line and "http://127.0.0.1:9999" in line, line
    assert "cannot read it" in line and "10.1.2.3" in line, line


def test_kind_target_uploads_to_its_in_cluster_emulator(fake_api, offline_gcs_credentials, tmp_path):
    cluster = KindCluster("never-created", kubeconfig_path=tmp_path / "kind.kubeconfig")  # no kind is run
    site = KubernetesTarget(fake_api, "kind", "r", cluster=cluster).storage()
    assert site.backend == "gcs-emulator" and site.emulator_host == KIND_GCS_EMULATOR_HOST == "http://127.0.0.1:9023"
    real = KubernetesTarget(fake_api, "kind", "r", cluster=cluster, real_gcs=True).storage()
    assert real.backend == "gcs" and real.emulator_host is None
    assert not cluster.created and not cluster.kubeconfig_path.exists()


# --- the local target's private emulator -------------------------------------------------------------

def _settings(tmp_path: Path, **kw) -> TargetSettings:
    return TargetSettings(run_id="targets-test", work_dir=tmp_path / "work", diagnostics_dir=tmp_path / "diagnostics",
                          cache_dir=tmp_path / "cache", progress=Progress(quiet=True), **kw)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_local_target_starts_and_stops_a_private_emulator(tmp_path):
    assert processes_touching(tmp_path) == []
    with make_target("local", _settings(tmp_path)) as target:
        assert isinstance(target, LocalTarget)
        site = target.storage()
        assert site.backend == "gcs-emulator"
        url = urlparse(site.emulator_host)
        assert url.scheme == "http" and url.hostname == "127.0.0.1" and url.port
        assert httpx.get(f"{site.emulator_host}/storage/v1/b", timeout=5.0).status_code == 200
        assert target.storage() is site  # asked again: the same emulator, not a second one
        pgid = target.emulator.group.pid
        assert _group_alive(pgid)
        assert any(line.startswith(f"{pgid}:") for line in processes_touching(tmp_path)), processes_touching(tmp_path)
    assert target.emulator is None
    eventually(lambda: not _group_alive(pgid), timeout_s=10.0, what="emulator process group gone")
    eventually(lambda: processes_touching(tmp_path) == [], timeout_s=10.0, what="no process touching the run dir")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{site.emulator_host}/storage/v1/b", timeout=2.0)


def test_local_target_uses_the_named_emulator_without_starting_one(tmp_path):
    with make_target("local", _settings(tmp_path, storage_emulator_host="http://127.0.0.1:9999")) as target:
        site = target.storage()
        assert site.backend == "gcs-emulator" and site.emulator_host == "http://127.0.0.1:9999"
        assert target.emulator is None
        assert processes_touching(tmp_path) == []
    assert processes_touching(tmp_path) == []


# --- the registry and the interface ------------------------------------------------------------------

def test_unknown_target_lists_the_names(tmp_path):
    with pytest.raises(ConfigError) as info:
        make_target("nope", _settings(tmp_path))
    line = info.value.one_line()
    assert "nope" in line
    assert all(name in line for name in TARGET_NAMES), line
    assert set(TARGET_NAMES) == {"local", *CLUSTER_TARGETS} and "local" not in CLUSTER_TARGETS


def test_every_hook_has_a_default_or_is_declared(tmp_path):
    for hook in ("acquire", "storage", "deploy", "mark_failed", "collect_diagnostics", "teardown",
                 "__enter__", "__exit__"):
        assert callable(getattr(Target, hook, None)), hook
    local = make_target("local", _settings(tmp_path))
    kube = KubernetesTarget(None, "kubeconfig", "r")
    cluster = make_target("kind", _settings(tmp_path))  # not entered: no kind is run
    for target in (local, kube, cluster):
        assert isinstance(target, Target)
        assert isinstance(target.timings, dict) and target.timings == {}
        target.mark_failed()  # before any deploy: nothing to mark, and no error
        target.teardown()  # never acquired: nothing to remove, and no error
        target.teardown()  # twice: still fine


def test_failed_acquire_tears_down_and_says_why(tmp_path):
    missing = tmp_path / "no-such-kubeconfig"
    target = make_target("kubeconfig", _settings(tmp_path, kubeconfig=str(missing)))
    with pytest.raises(EnvironmentProblem) as info:
        with target:
            pytest.fail("entered a target whose kubeconfig does not exist")
    assert "kubeconfig file not found" in info.value.one_line() and str(missing) in info.value.one_line()
    assert target.api_client is None and target.deployments == []


def test_runner_uses_the_interface_not_attribute_probes():
    text = (REPO / "harness" / "runner.py").read_text()
    for probe in ("hasattr(self.target", "getattr(self.target", "hasattr(target", "getattr(target"):
        assert probe not in text, probe
    assert not re.search(r"(?:has|get)attr\(\s*(?:self\.)?target\b", text)
