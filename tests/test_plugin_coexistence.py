"""The harness's pytest plugin loads beside pytest-kind and pytest-kubernetes (both dev dependencies).

argparse refuses an option registered twice, and pytest-kind owns `--keep-cluster`, `--kubeconfig`
and `--cluster-name`: so every harness option but `--target` has a `--harness-` prefix. Each test
runs pytest in a subprocess on a generated directory with exactly these three plugins
(PYTEST_DISABLE_PLUGIN_AUTOLOAD=1, `-p` by pytest11 entry-point name), so a plugin that is missing
makes the run, and the test, fail.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

# pytest11 entry-point names: ours (pyproject.toml), pytest-kind's, pytest-kubernetes'
PLUGINS = ("kserve_harness", "pytest-kind", "pytest-kubernetes")
HARNESS_OPTIONS = ("--target", "--harness-kubeconfig", "--harness-kube-context", "--harness-keep-cluster",
                   "--harness-keep-on-fail", "--harness-real-gcs", "--harness-storage-emulator-host",
                   "--harness-trials", "--harness-report-dir")
KIND_OPTIONS = ("--cluster-name", "--keep-cluster", "--kubeconfig", "--kind-image", "--kind-bin", "--kind-kubectl-bin")
K8S_OPTIONS = ("--k8s-cluster-name", "--k8s-provider", "--k8s-version", "--k8s-provider-config",
               "--k8s-kubeconfig-override", "--k8s-kubeconfig")
FIXTURES = {
    "harness/pytest_plugin.py": ("harness_options", "run_scenario", "deploy_scenario"),
    "pytest_kind/plugin.py": ("kind_cluster",),
    "pytest_kubernetes/plugin.py": ("k8s", "k8s_manager", "remaining_clusters_teardown"),
}

# Records what each plugin's options parsed to; runs under --collect-only, so nothing deploys.
CONFTEST = '''
import json
import os

NAMES = ["target", "harness_keep_cluster", "keep_cluster", "harness_kubeconfig", "kubeconfig",
         "harness_kube_context", "harness_trials", "k8s_cluster_name"]


def pytest_collection_finish(session):
    if "COEXISTENCE_OUT" in os.environ:
        values = {name: session.config.getoption(name) for name in NAMES}
        with open(os.environ["COEXISTENCE_OUT"], "w") as f:
            json.dump(values, f)
'''


def _pytest(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    environ.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env)
    plugins = [arg for name in PLUGINS for arg in ("-p", name)]
    return subprocess.run([sys.executable, "-m", "pytest", *plugins, "-p", "no:cacheprovider", *args],
                          cwd=directory, env=environ, capture_output=True, text=True, timeout=300)


def _project(tmp_path: Path, test_body: str = "def test_trivial():\n    pass\n") -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: not this repository's ini
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_generated.py").write_text(test_body)
    return tmp_path


def _explain(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"


def test_the_three_plugins_are_installed():
    names = {ep.name for ep in entry_points(group="pytest11")}
    missing = [name for name in PLUGINS if name not in names]
    assert not missing, f"pytest11 entry points missing: {missing} (pip install -e '.[dev]' -c constraints.txt)"


def test_help_lists_every_plugins_options(tmp_path):
    done = _pytest(_project(tmp_path), "--help")
    assert done.returncode == 0, _explain(done)
    for option in (*HARNESS_OPTIONS, *KIND_OPTIONS, *K8S_OPTIONS):
        assert option in done.stdout, f"{option} missing from --help\n{_explain(done)}"
    assert "kserve-harness:" in done.stdout and "kind:" in done.stdout and "k8s:" in done.stdout


def test_harness_and_kind_options_parse_side_by_side(tmp_path):
    out = tmp_path / "options.json"
    done = _pytest(_project(tmp_path), "--collect-only", "-q",
                   "--target", "kind", "--harness-keep-cluster", "--keep-cluster",
                   "--harness-kubeconfig", "/harness/kubeconfig", "--kubeconfig", "/kind/kubeconfig",
                   "--harness-kube-context", "ctx", "--harness-trials", "3", "--k8s-cluster-name", "other",
                   COEXISTENCE_OUT=str(out))
    assert done.returncode == 0, _explain(done)
    assert "test_generated.py::test_trivial" in done.stdout, _explain(done)
    assert json.loads(out.read_text()) == {
        "target": "kind", "harness_keep_cluster": True, "keep_cluster": True,
        "harness_kubeconfig": "/harness/kubeconfig", "kubeconfig": "/kind/kubeconfig",
        "harness_kube_context": "ctx", "harness_trials": 3, "k8s_cluster_name": "other",
    }


def test_each_keep_cluster_is_independent(tmp_path):
    """pytest-kind's --keep-cluster does not set the harness's, nor the other way round."""
    out = tmp_path / "options.json"
    project = _project(tmp_path)
    done = _pytest(project, "--collect-only", "-q", "--keep-cluster", COEXISTENCE_OUT=str(out))
    assert done.returncode == 0, _explain(done)
    values = json.loads(out.read_text())
    assert (values["keep_cluster"], values["harness_keep_cluster"], values["target"]) == (True, False, "local")
    done = _pytest(project, "--collect-only", "-q", "--harness-keep-cluster", COEXISTENCE_OUT=str(out))
    assert done.returncode == 0, _explain(done)
    values = json.loads(out.read_text())
    assert (values["keep_cluster"], values["harness_keep_cluster"]) == (False, True)


def test_harness_options_fixture_reads_the_prefixed_options(tmp_path):
    """A generated test runs (not just collects) with harness_options: it builds RunOptions, deploys nothing."""
    body = '''
def test_options(harness_options):
    assert harness_options.target == "kind"
    assert harness_options.keep_cluster is True
    assert harness_options.kubeconfig == "/harness/kubeconfig"
    assert harness_options.context == "ctx"
    assert harness_options.keep_on_fail is True
    assert harness_options.real_gcs is True
    assert harness_options.storage_emulator_host == "http://127.0.0.1:9023"
    assert harness_options.trials == 2
'''
    done = _pytest(_project(tmp_path, body), "-q", "--target", "kind", "--harness-keep-cluster",
                   "--harness-kubeconfig", "/harness/kubeconfig", "--kubeconfig", "/kind/kubeconfig",
                   "--harness-kube-context", "ctx", "--harness-keep-on-fail", "--harness-real-gcs",
                   "--harness-storage-emulator-host", "http://127.0.0.1:9023", "--harness-trials", "2",
                   "--harness-report-dir", str(tmp_path / "reports"),
                   COEXISTENCE_OUT=str(tmp_path / "options.json"))
    assert done.returncode == 0, _explain(done)
    assert "1 passed" in done.stdout, _explain(done)


def test_no_fixture_name_is_defined_twice(tmp_path):
    done = _pytest(_project(tmp_path), "--fixtures", "-v")
    assert done.returncode == 0 and "INTERNALERROR" not in done.stdout + done.stderr, _explain(done)
    # `--fixtures -v` prints one unindented "name [scope] -- path:line" line per definition
    definitions = [m.groups() for m in re.finditer(r"^(\w+)(?: \[\w+ scope\])? -- (\S+):\d+$", done.stdout, re.M)]
    names = [name for name, _ in definitions]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    where = {name: location.replace(os.sep, "/") for name, location in definitions}
    for source, fixtures in FIXTURES.items():
        for fixture in fixtures:
            assert source in where.get(fixture, ""), f"{fixture}: expected from {source}, got {where.get(fixture)}"
