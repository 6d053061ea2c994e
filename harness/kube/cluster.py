"""Which cluster, and how to talk to it: kind via its CLI, or any kubeconfig and context.

Flow: `load_api_client(kubeconfig, context)` builds an ApiClient with
`kubernetes.config.new_client_from_config` (never the global configuration, never os.environ);
`probe` asks the API server's /version with a short timeout (used for skips and early errors);
`KindCluster.ensure()` reuses or creates a kind cluster whose kubeconfig is written to a file of
its own (never ~/.kube/config) and `install_kserve()` runs clusters/kind/install-kserve.sh on it;
`kserve_installed` checks for the InferenceService CRD. The orphan sweep lives in namespaces.py
and is re-exported here.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from harness.errors import EnvironmentProblem
from harness.kube.api import api_error_text
from harness.kube.namespaces import sweep_orphans
from harness.procs import run

if TYPE_CHECKING:
    from harness.runtimes.base import ImageBuild

__all__ = ["REPO_ROOT", "KIND_DIR", "DEFAULT_KIND_CLUSTER", "KIND_GCS_EMULATOR_HOST", "kind_pins", "require_binary", "load_api_client", "probe",
           "reachable", "kserve_installed", "KindCluster", "sweep_orphans"]

REPO_ROOT = Path(__file__).resolve().parents[2]
KIND_DIR = REPO_ROOT / "clusters" / "kind"
DEFAULT_KIND_CLUSTER = "kserve-harness"
ISVC_CRD = "inferenceservices.serving.kserve.io"
# The in-cluster GCS emulator of clusters/kind, as the host reaches it (kind-config.yaml maps
# nodePort 30023 to 127.0.0.1:9023) and as pods reach it (install-kserve.sh sets this in the
# ClusterStorageContainer). Upload to the first; the storage-initializer reads from the second.
KIND_GCS_EMULATOR_HOST = "http://127.0.0.1:9023"
KIND_GCS_EMULATOR_IN_CLUSTER = "http://gcs-emulator.kserve-harness-system.svc.cluster.local:9023"


def kind_pins() -> dict[str, str]:
    """The releases clusters/kind/install-kserve.sh installs (clusters/kind/versions.env, its one source)."""
    pins = {}
    for line in (KIND_DIR / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            pins[key.strip()] = value.strip()
    return pins


def require_binary(name: str, *, hint: str) -> str:
    """The path of program `name`, or EnvironmentProblem saying how to get it."""
    path = shutil.which(name)
    if not path:
        raise EnvironmentProblem(f"`{name}` is not installed (not on PATH)", where=name, hint=hint)
    return path


def load_api_client(kubeconfig: str | os.PathLike | None = None, context: str | None = None) -> client.ApiClient:
    """An ApiClient for `context` in `kubeconfig` (default: $KUBECONFIG or ~/.kube/config).

    Inside a pod with no kubeconfig, the pod's service account is used (in-cluster config).

    Raises:
        EnvironmentProblem: no kubeconfig, an unknown context, or unusable credentials.
    """
    path = Path(kubeconfig).expanduser() if kubeconfig else None
    default = Path(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION.split(os.pathsep)[0]))
    where = str(path or default) + (f" context {context}" if context else "")
    if path is not None and not path.is_file():
        raise EnvironmentProblem("kubeconfig file not found", where=str(path),
                                 hint="pass --kubeconfig PATH (and --context NAME) of a reachable cluster")
    if path is None and not default.is_file() and os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
        cfg = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise EnvironmentProblem(f"in-cluster configuration failed: {exc}", where="service account") from exc
        return client.ApiClient(cfg)
    try:
        # persist_config=False: refreshed tokens are not written back into the user's file.
        return config.new_client_from_config(config_file=str(path) if path else None, context=context,
                                             persist_config=False)
    except (ConfigException, FileNotFoundError, OSError, ValueError, KeyError, TypeError) as exc:
        raise EnvironmentProblem(f"cannot load the kubeconfig: {exc}", where=where,
                                 hint="check --kubeconfig / --context (kubectl config get-contexts)") from exc


def probe(api_client: client.ApiClient, *, timeout_s: float = 5.0) -> str:
    """The API server's version (e.g. "v1.31.2"), asked with a short timeout.

    Raises:
        EnvironmentProblem: the API server did not answer (down, wrong address, bad credentials).
    """
    host = api_client.configuration.host
    try:
        info = client.VersionApi(api_client).get_code(_request_timeout=(timeout_s, timeout_s))
    except Exception as exc:  # noqa: BLE001 - any failure here means "not reachable", said plainly
        raise EnvironmentProblem(f"Kubernetes API server not reachable: {api_error_text(exc)}", where=host,
                                 hint="is the cluster running and the kubeconfig current?") from exc
    return getattr(info, "git_version", None) or str(info)


def kserve_version(api_client: client.ApiClient, namespace: str = "kserve") -> str | None:
    """KServe's version, from its controller's image tag; None when it cannot be read (RBAC, layout)."""
    try:
        dep = client.AppsV1Api(api_client).read_namespaced_deployment(
            "kserve-controller-manager", namespace, _request_timeout=(5, 5))
    except Exception:  # noqa: BLE001 - a fingerprint detail, never a reason to fail a run
        return None
    images = [c.image for c in dep.spec.template.spec.containers if c.image and "kserve" in c.image]
    return images[0].rsplit(":", 1)[-1] if images and ":" in images[0] else None


def reachable(kubeconfig: str | None = None, context: str | None = None, *,
              timeout_s: float = 5.0) -> tuple[bool, str]:
    """(True, server version) or (False, why not): for test skips and friendly CLI errors."""
    try:
        api_client = load_api_client(kubeconfig, context)
    except EnvironmentProblem as exc:
        return False, exc.one_line()
    try:
        return True, probe(api_client, timeout_s=timeout_s)
    except EnvironmentProblem as exc:
        return False, exc.one_line()
    finally:
        api_client.close()


def kserve_installed(api_client: client.ApiClient) -> bool:
    """Whether the API server serves InferenceServices (serving.kserve.io/v1beta1).

    Asks API discovery, which every authenticated user may read (reading the CRD itself needs a
    cluster-scoped permission that test users often lack).
    """
    try:
        resp = client.CustomObjectsApi(api_client).get_api_resources(
            "serving.kserve.io", "v1beta1", _preload_content=False, _request_timeout=(10.0, 30.0))
        body = json.loads(resp.data or b"{}")  # read fully: the connection goes back to the pool
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise EnvironmentProblem(f"cannot check for KServe: {api_error_text(exc)}", where=ISVC_CRD) from exc
    return any(r.get("name") == "inferenceservices" for r in body.get("resources") or [])


class KindCluster:
    """A kind cluster driven through the kind CLI.

    Args:
        name: the kind cluster name.
        config_path: kind's cluster config (clusters/kind/kind-config.yaml).
        kubeconfig_path: where this cluster's kubeconfig is written (default .cache/kind/NAME.kubeconfig
            in the repository); the user's ~/.kube/config is left alone.
        node_image: kindest/node image to pin the Kubernetes version, or None for kind's default.
    """

    def __init__(self, name: str = DEFAULT_KIND_CLUSTER, *, config_path: Path = KIND_DIR / "kind-config.yaml",
                 kubeconfig_path: Path | None = None, node_image: str | None = None) -> None:
        self.name = name
        self.config_path = config_path
        self.kubeconfig_path = kubeconfig_path or REPO_ROOT / ".cache" / "kind" / f"{name}.kubeconfig"
        self.node_image = node_image
        self.created = False

    @property
    def context(self) -> str:
        return f"kind-{self.name}"

    def _kind(self) -> str:
        path = require_binary("kind", hint="install kind (https://kind.sigs.k8s.io/docs/user/quick-start/) "
                                           "and Docker or Podman")
        if not (shutil.which("docker") or shutil.which("podman")):
            raise EnvironmentProblem("kind needs a container engine, and neither `docker` nor `podman` is on PATH",
                                     where=path, hint="install and start Docker (or Podman), then rerun")
        return path

    def exists(self) -> bool:
        # 10 s: `kind get clusters` answers at once when the engine runs; a stuck one must not stall the run.
        out = run([self._kind(), "get", "clusters"], what="list kind clusters", timeout=10,
                  hint="is Docker (or Podman) running? (`docker info` should answer)").stdout
        return self.name in {line.strip() for line in out.splitlines()}

    def create(self, *, wait: str = "180s") -> None:
        """`kind create cluster` with the harness's config; its kubeconfig goes to kubeconfig_path."""
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [self._kind(), "create", "cluster", "--name", self.name, "--config", str(self.config_path),
               "--kubeconfig", str(self.kubeconfig_path), "--wait", wait]
        if self.node_image:
            cmd += ["--image", self.node_image]
        run(cmd, what=f"create kind cluster {self.name}", timeout=900,
            hint="is Docker running with enough memory (8 GiB+)? see clusters/kind/README.md")
        self.created = True

    def write_kubeconfig(self) -> Path:
        """Write the existing cluster's kubeconfig to kubeconfig_path (mode 0600)."""
        out = run([self._kind(), "get", "kubeconfig", "--name", self.name], what="read the kind kubeconfig",
                  timeout=60).stdout
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.kubeconfig_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(out)
        return self.kubeconfig_path

    def ensure(self) -> "KindCluster":
        """Reuse the cluster when it exists, else create it; either way, write its kubeconfig."""
        if self.exists():
            self.write_kubeconfig()
        else:
            self.create()
        return self

    def api_client(self) -> client.ApiClient:
        return load_api_client(self.kubeconfig_path, self.context)

    def install_kserve(self, *, timeout_s: float = 1500.0) -> None:
        """Run clusters/kind/install-kserve.sh against this cluster (cert-manager, KServe, GCS emulator)."""
        require_binary("kubectl", hint="install kubectl (https://kubernetes.io/docs/tasks/tools/)")
        script = KIND_DIR / "install-kserve.sh"
        run(["bash", str(script)], what="install KServe on kind", timeout=timeout_s,
            env={"KUBECONFIG": str(self.kubeconfig_path), "KUBE_CONTEXT": self.context},
            hint=f"rerun {script} by hand to see where it stops")

    def load_image(self, build: "ImageBuild") -> None:
        """Make `build.reference` pullable by the cluster's nodes: `docker build` it when the engine
        does not have it yet, then `kind load docker-image` (kind nodes cannot pull a local image)."""
        kind = self._kind()
        engine = shutil.which("docker") or shutil.which("podman")
        try:
            run([engine, "image", "inspect", build.reference], what=f"look for image {build.reference}", timeout=60)
            have = True
        except EnvironmentProblem:
            have = False
        if not have:
            cmd = [engine, "build", "-t", build.reference, str(build.context)]
            for key, value in build.args.items():
                cmd[2:2] = ["--build-arg", f"{key}={value}"]
            run(cmd, what=f"build image {build.reference}", timeout=1800,
                hint=f"build it by hand: {' '.join(cmd)}")
        run([kind, "load", "docker-image", build.reference, "--name", self.name],
            what=f"load image {build.reference} into kind cluster {self.name}", timeout=900)

    def delete(self) -> None:
        """`kind delete cluster` (a missing cluster is not an error)."""
        run([self._kind(), "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig_path)],
            what=f"delete kind cluster {self.name}", timeout=300)
