"""Realistic Kubernetes and KServe states, shaped as a real cluster serves them.

Copied in shape (and wording of reasons and messages) from what kubelet, scheduler, cluster
autoscaler and KServe write: `kubectl get pod -o json` of a KServe predictor pod, events of the
namespace, `kubectl get isvc -o json`. Tests build a state, then hand it to the classifier or
drive it through the FAKE API server.
"""
from __future__ import annotations

import copy
from typing import Any

NS = "kh-run-1-mnist"
ISVC = "mnist"
POD = "mnist-predictor-6d8f7c9b5-x2x8k"
T0 = "2026-11-25T10:00:00Z"
T1 = "2026-11-25T10:00:40Z"
STORAGE_IMAGE = "kserve/storage-initializer:v0.15.2"
MODEL_IMAGE = "pytorch/torchserve-kfs:0.9.0"


def pod(name: str = POD, *, ns: str = NS, isvc: str = ISVC, init: list[dict] | None = None,
        containers: list[dict] | None = None, phase: str = "Pending", scheduled: dict | None = None,
        ready: bool = False, memory_limit: str = "2Gi") -> dict:
    """A KServe predictor pod: storage-initializer init container, kserve-container."""
    conditions = [scheduled or {"type": "PodScheduled", "status": "True", "lastTransitionTime": T0}]
    if scheduled is None or scheduled.get("status") == "True":
        conditions += [
            {"type": "Initialized", "status": "True" if init is None or all(
                (s.get("state") or {}).get("terminated", {}).get("exitCode") == 0 for s in init) else "False",
             "lastTransitionTime": T0},
            {"type": "ContainersReady", "status": str(ready), "lastTransitionTime": T0},
            {"type": "Ready", "status": str(ready), "lastTransitionTime": T0},
        ]
    status: dict[str, Any] = {"phase": phase, "conditions": conditions, "qosClass": "Burstable"}
    if init is not None:
        status["initContainerStatuses"] = init
    if containers is not None:
        status["containerStatuses"] = containers
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "creationTimestamp": T0,
                     "labels": {"serving.kserve.io/inferenceservice": isvc, "component": "predictor",
                                "app": f"isvc.{isvc}-predictor"}},
        "spec": {
            "initContainers": [{"name": "storage-initializer", "image": STORAGE_IMAGE,
                                "args": ["gs://kserve-harness-test/models/mnist", "/mnt/models"],
                                "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                              "requests": {"cpu": "100m", "memory": "100Mi"}}}],
            "containers": [{"name": "kserve-container", "image": MODEL_IMAGE,
                            "args": ["torchserve", "--start", "--model-store=/mnt/models/model-store",
                                     "--ts-config=/mnt/models/config/config.properties"],
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "1", "memory": memory_limit},
                                          "requests": {"cpu": "1", "memory": memory_limit}}}],
            "serviceAccountName": "default", "nodeName": "kserve-harness-control-plane",
        },
        "status": status,
    }


def cs(name: str, *, state: dict, last: dict | None = None, restarts: int = 0, ready: bool = False,
       image: str = MODEL_IMAGE) -> dict:
    """One container status."""
    return {"name": name, "image": image, "imageID": "", "ready": ready, "restartCount": restarts,
            "started": "running" in state, "state": state, "lastState": last or {}}


def init_ok() -> list[dict]:
    return [cs("storage-initializer", image=STORAGE_IMAGE, state={"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": T0, "finishedAt": T0}})]


def init_running() -> list[dict]:
    return [cs("storage-initializer", image=STORAGE_IMAGE, state={"running": {"startedAt": T0}})]


def waiting_main(reason: str = "PodInitializing", message: str | None = None) -> list[dict]:
    w = {"reason": reason} | ({"message": message} if message else {})
    return [cs("kserve-container", state={"waiting": w})]


def running_main(ready: bool = True) -> list[dict]:
    return [cs("kserve-container", state={"running": {"startedAt": T1}}, ready=ready)]


# --- the failure states -----------------------------------------------------------------------

def storage_initializer_failed(*, backoff: bool = True) -> dict:
    term = {"exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T1,
            "containerID": "containerd://3d7e883e67c4"}
    state = ({"waiting": {"reason": "CrashLoopBackOff", "message":
                          f"back-off 10s restarting failed container=storage-initializer pod={POD}_{NS}(uid-{POD})"}}
             if backoff else {"terminated": term})
    return pod(init=[cs("storage-initializer", image=STORAGE_IMAGE, state=state, last={"terminated": term} if backoff
                        else None, restarts=1 if backoff else 0)],
               containers=waiting_main())


STORAGE_LOG = (
    "2026-11-25 10:00:39.112 1 kserve INFO [storage.py:download_files():74] Copying contents of "
    "gs://kserve-harness-test/models/mnist to local\n"
    "Traceback (most recent call last):\n"
    '  File "/storage-initializer/scripts/initializer-entrypoint", line 16, in <module>\n'
    "    Storage.download(src_uri, dest_path)\n"
    "RuntimeError: Failed to fetch model. No model found in gs://kserve-harness-test/models/mnist.\n")


def image_pull(reason: str = "ErrImagePull", image: str = "pytorch/torchserve-kfs:0.0.0-nope") -> dict:
    message = (f'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/{image}": '
               f'failed to resolve reference "docker.io/{image}": docker.io/{image}: not found'
               if reason == "ErrImagePull" else f'Back-off pulling image "{image}"')
    return pod(init=init_ok(), containers=[cs("kserve-container", image=image,
                                              state={"waiting": {"reason": reason, "message": message}})])


def crash_loop(restarts: int = 3) -> dict:
    last = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T1}}
    return pod(init=init_ok(), phase="Running", containers=[cs(
        "kserve-container", restarts=restarts, last=last,
        state={"waiting": {"reason": "CrashLoopBackOff",
                           "message": f"back-off 40s restarting failed container=kserve-container pod={POD}"}})])


MODEL_LOG = (
    "WARNING: sun.reflect.Reflection.getCallerClass is not supported. This will impact performance.\n"
    "2026-11-25T10:00:41,000 [INFO ] main org.pytorch.serve.servingsdk.impl.PluginsManager - Loading plugins\n"
    "2026-11-25T10:00:41,200 [ERROR] main org.pytorch.serve.ModelServer - Failed to load model mnist.mar\n"
    "org.pytorch.serve.archive.model.ModelNotFoundException: Model not found at: mnist.mar\n")


def oom_killed(*, running_again: bool = False) -> dict:
    last = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": T0, "finishedAt": T1}}
    state = ({"running": {"startedAt": T1}} if running_again else
             {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}})
    return pod(init=init_ok(), phase="Running", memory_limit="512Mi",
               containers=[cs("kserve-container", restarts=1, last=last, state=state)])


GPU_MESSAGE = ("0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: "
               "1 No preemption victims found for incoming pod.")


def unschedulable(message: str = GPU_MESSAGE) -> dict:
    return pod(scheduled={"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                          "message": message, "lastTransitionTime": T0})


def event(reason: str, message: str, *, kind: str = "Pod", name: str = POD, type: str = "Warning",
          ns: str = NS, at: str = T1) -> dict:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{abs(hash((reason, message))) % 10**12:x}", "namespace": ns},
            "involvedObject": {"kind": kind, "name": name, "namespace": ns, "uid": f"uid-{name}"},
            "reason": reason, "message": message, "type": type, "count": 1,
            "firstTimestamp": at, "lastTimestamp": at, "source": {"component": "default-scheduler"}}


# --- InferenceService states ------------------------------------------------------------------

def isvc(*conditions: tuple[str, str] | tuple[str, str, str], url: str | None = None, at: str = T0,
         model_status: dict | None = None, name: str = ISVC, ns: str = NS) -> dict:
    conds = []
    for c in conditions:
        ctype, status, *reason = c
        cond = {"type": ctype, "status": status, "lastTransitionTime": at}
        if reason:
            cond["reason"] = reason[0]
        conds.append(cond)
    status: dict[str, Any] = {"conditions": conds, "deploymentMode": "RawDeployment",
                              "modelStatus": model_status or {"transitionStatus": "InProgress",
                                                              "states": {"activeModelState": "Pending",
                                                                         "targetModelState": "Loaded"}}}
    if url:
        status["url"] = url
        status["address"] = {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "generation": 1},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "pytorch"},
                                             "storageUri": "gs://kserve-harness-test/models/mnist"}}},
            "status": status}


def isvc_starting() -> dict:
    # RawDeployment while the Deployment is not available yet.
    return isvc(("IngressReady", "False", "Predictor ingress not created"),
                ("PredictorReady", "False", "MinimumReplicasUnavailable"), ("Ready", "False"))


def isvc_ready(url: str = f"http://{ISVC}-{NS}.example.com") -> dict:
    return isvc(("IngressReady", "True"), ("PredictorReady", "True"), ("Ready", "True"), url=url,
                model_status={"transitionStatus": "UpToDate", "copies": {"failedCopies": 0, "totalCopies": 1},
                              "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"}})


def deep(obj: dict) -> dict:
    return copy.deepcopy(obj)
