"""Each failure class, named from realistic pod, event and InferenceService states."""
from __future__ import annotations

import datetime as dt

import pytest

from harness.kube.causes import INGRESS_GRACE_S, UNSCHEDULABLE_GRACE_S, diagnose, event_cause, isvc_cause, pod_cause, pod_status_text
from harness.kube.readiness import last_line

from . import states as S

LATER = dt.datetime(2026, 11, 25, 10, 5, tzinfo=dt.timezone.utc)  # well past the ingress grace


# --- pods ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backoff", [False, True], ids=["terminated", "crashloop"])
def test_storage_initializer_failure_is_named_and_wants_its_log(backoff):
    cause = pod_cause(S.storage_initializer_failed(backoff=backoff))
    assert cause.code == "storage-initializer"
    assert cause.what == "storage-initializer failed (exit code 1)"
    assert (cause.pod, cause.container) == (S.POD, "storage-initializer")
    assert not cause.previous_log  # the back-off instance has no log: the "current" one is the failed run
    line = last_line(S.STORAGE_LOG)
    assert cause.headline(line) == ("storage-initializer failed (exit code 1): RuntimeError: Failed to fetch model. "
                                    "No model found in gs://kserve-harness-test/models/mnist.")
    assert pod_status_text(S.storage_initializer_failed(backoff=backoff)).startswith(
        "Init:CrashLoopBackOff" if backoff else "Init:Error")


def test_other_init_container_failure():
    p = S.pod(init=[S.cs("fetch-extra", state={"terminated": {"exitCode": 2, "reason": "Error"}})],
              containers=S.waiting_main())
    cause = pod_cause(p)
    assert (cause.code, cause.container) == ("init-container", "fetch-extra")
    assert "exit code 2" in cause.what


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_image_pull_failure(reason):
    cause = pod_cause(S.image_pull(reason))
    assert cause.code == "image-pull"
    assert "pytorch/torchserve-kfs:0.0.0-nope" in cause.what
    assert "not found" in cause.message if reason == "ErrImagePull" else "Back-off pulling image" in cause.message
    assert not cause.wants_log  # a container that never started has no log


def test_image_pull_failure_of_the_storage_initializer_image():
    p = S.pod(init=[S.cs("storage-initializer", image="kserve/storage-initializer:nope",
                         state={"waiting": {"reason": "ImagePullBackOff",
                                            "message": 'Back-off pulling image "kserve/storage-initializer:nope"'}})],
              containers=S.waiting_main())
    cause = pod_cause(p)
    assert cause.code == "image-pull" and "storage-initializer" in cause.what


def test_crash_loop_of_the_model_container_wants_its_log():
    cause = pod_cause(S.crash_loop(restarts=3))
    assert cause.code == "crash-loop"
    assert cause.what == "kserve-container is in CrashLoopBackOff (exit code 1, 3 restarts)"
    assert cause.container == "kserve-container" and not cause.previous_log
    assert cause.headline(last_line(S.MODEL_LOG)).endswith("ModelNotFoundException: Model not found at: mnist.mar")


@pytest.mark.parametrize("running_again", [False, True])
def test_oom_killed_beats_crash_loop_and_names_the_limit(running_again):
    cause = pod_cause(S.oom_killed(running_again=running_again))
    assert cause.code == "oom-killed"
    assert cause.what == "kserve-container was OOMKilled (memory limit 512Mi)"
    assert "exit code 137" in cause.message
    assert cause.previous_log is running_again  # a restarted container's killed run is "previous"
    assert "limits.memory" in cause.hint


def test_storage_initializer_oom():
    term = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
    p = S.pod(init=[S.cs("storage-initializer", state=term)], containers=S.waiting_main())
    cause = pod_cause(p)
    assert cause.code == "oom-killed" and cause.what == "storage-initializer was OOMKilled (memory limit 1Gi)"


def test_unschedulable_for_lack_of_gpus():
    cause = pod_cause(S.unschedulable(), now=LATER)
    assert cause.code == "unschedulable"
    assert "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." in cause.message
    assert "GPU" in cause.hint
    assert pod_status_text(S.unschedulable()) == "Pending (Unschedulable) 0/1"


def test_unschedulable_gives_an_autoscaler_time_to_answer():
    just_now = dt.datetime(2026, 11, 25, 10, 0, int(UNSCHEDULABLE_GRACE_S) - 10, tzinfo=dt.timezone.utc)
    assert pod_cause(S.unschedulable(), now=just_now) is None


def test_unschedulable_waits_for_a_triggered_scale_up():
    scale_up = S.event("TriggeredScaleUp", "pod triggered scale-up: [{gpu-pool 0->1 (max: 2)}]", type="Normal")
    assert pod_cause(S.unschedulable(), [scale_up], now=LATER) is None


def test_unschedulable_with_autoscaler_refusal_fails_at_once():
    refused = S.event("NotTriggerScaleUp", "pod didn't trigger scale-up: 1 Insufficient nvidia.com/gpu",
                      type="Normal")
    just_now = dt.datetime(2026, 11, 25, 10, 0, 5, tzinfo=dt.timezone.utc)
    cause = pod_cause(S.unschedulable(), [refused], now=just_now)
    assert cause.code == "unschedulable" and "cluster autoscaler: pod didn't trigger scale-up" in cause.message


def test_a_failed_scale_up_after_a_triggered_one_fails():
    triggered = S.event("TriggeredScaleUp", "pod triggered scale-up: [{gpu-pool 0->1 (max: 1)}]", type="Normal",
                        at="2026-11-25T10:00:20Z")
    failed = S.event("FailedScaleUp", "Node scale up in zones us-central1-a associated with this pod failed: "
                     "GCE out of resources.", at="2026-11-25T10:04:00Z")
    assert "GCE out of resources" in pod_cause(S.unschedulable(), [triggered, failed], now=LATER).message
    assert pod_cause(S.unschedulable(), [failed, S.event("TriggeredScaleUp", "again", type="Normal",
                                                         at="2026-11-25T10:04:30Z")], now=LATER) is None


def test_container_config_error():
    p = S.pod(init=S.init_ok(), containers=S.waiting_main(
        "CreateContainerConfigError", 'secret "gcs-credentials" not found'))
    cause = pod_cause(p)
    assert cause.code == "container-config" and cause.message == 'secret "gcs-credentials" not found'


def test_evicted_pod():
    p = S.pod(phase="Failed")
    p["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    assert pod_cause(p).code == "pod-failed"


@pytest.mark.parametrize("make", [
    lambda: S.pod(init=S.init_running(), containers=S.waiting_main()),
    lambda: S.pod(init=S.init_ok(), containers=S.waiting_main("ContainerCreating")),
    lambda: S.pod(init=S.init_ok(), phase="Running", containers=S.running_main(ready=False)),
    lambda: S.pod(),  # just created, no statuses yet
], ids=["init-running", "creating", "running-not-ready", "new"])
def test_progress_is_not_a_failure(make):
    assert pod_cause(make()) is None


def test_terminating_pods_are_ignored():
    p = S.crash_loop()
    p["metadata"]["deletionTimestamp"] = S.T1
    assert pod_cause(p) is None


def test_client_models_are_accepted_too():
    from kubernetes import client

    api = client.ApiClient(client.Configuration())
    model = api.deserialize(__import__("json").dumps(S.image_pull()), "V1Pod", "application/json")
    assert isinstance(model, client.V1Pod)
    assert pod_cause(model).code == "image-pull"


# --- events ---------------------------------------------------------------------------------------

def test_pods_that_cannot_be_created_because_the_service_account_is_missing():
    ev = S.event("FailedCreate", 'Error creating: pods "mnist-predictor-6d8f7c9b5-" is forbidden: error looking '
                 f'up service account {S.NS}/gcs-reader: serviceaccount "gcs-reader" not found',
                 kind="ReplicaSet", name="mnist-predictor-6d8f7c9b5")
    cause = event_cause([ev])
    assert cause.code == "create-failed" and "serviceaccount" in cause.message and "service_account" in cause.hint


def test_missing_secret_volume():
    ev = S.event("FailedMount", 'MountVolume.SetUp failed for volume "gcs-key" : secret "gcs-key" not found')
    assert event_cause([ev]).code == "mount-failed"


def test_kserve_controller_error_but_not_an_update_conflict():
    conflict = S.event("InternalError", 'Operation cannot be fulfilled on inferenceservices.serving.kserve.io '
                       '"mnist": the object has been modified; please apply your changes to the latest version',
                       kind="InferenceService", name="mnist")
    assert event_cause([conflict]) is None
    real = S.event("InternalError", "fails to reconcile predictor: fails to get runtime: no runtime found to "
                   "support predictor with model type: {pytorch <nil>}", kind="InferenceService", name="mnist")
    assert event_cause([conflict, real]).code == "kserve-controller"


def test_normal_events_are_not_causes():
    assert event_cause([S.event("Pulling", 'Pulling image "x"', type="Normal"),
                        S.event("Scheduled", "Successfully assigned", type="Normal")]) is None


# --- the InferenceService -------------------------------------------------------------------------

def test_no_supporting_runtime():
    obj = S.isvc(("PredictorReady", "False"), ("Ready", "False"), model_status={
        "transitionStatus": "InvalidSpec", "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
        "lastFailureInfo": {"reason": "NoSupportingRuntime",
                            "message": "Specified runtime does not support specified framework/version"}})
    cause = isvc_cause(obj, need_url=False)
    assert cause.code == "model-status" and cause.what == "KServe reports NoSupportingRuntime"


def test_knative_revision_failure():
    obj = S.isvc(("PredictorReady", "False", "RevisionFailed"), ("Ready", "False", "RevisionFailed"))
    obj["status"]["conditions"][0]["message"] = ('Revision "mnist-predictor-00001" failed with message: '
                                                 "Container failed with: exit status 1.")
    assert isvc_cause(obj, need_url=False).code == "predictor"


def test_ingress_not_configured_after_the_grace_period():
    obj = S.isvc(("IngressReady", "False", "IngressNotConfigured"), ("PredictorReady", "True"), ("Ready", "False"))
    cause = isvc_cause(obj, need_url=True, now=LATER)
    assert cause.code == "ingress" and cause.what.startswith("ingress not configured")
    early = dt.datetime(2026, 11, 25, 10, 0, int(INGRESS_GRACE_S) - 5, tzinfo=dt.timezone.utc)
    assert isvc_cause(obj, need_url=True, now=early) is None
    assert isvc_cause(obj, need_url=False, now=LATER) is None  # port-forward does not need the ingress


def test_ingress_false_while_the_predictor_starts_is_normal():
    assert isvc_cause(S.isvc_starting(), need_url=True, now=LATER) is None


def test_no_url():
    obj = S.isvc(("IngressReady", "True"), ("PredictorReady", "True"), ("Ready", "True"))
    assert isvc_cause(obj, need_url=True, now=LATER).code == "no-url"


# --- verdicts ----------------------------------------------------------------------------------------

def test_ready_with_a_pod_to_forward_to():
    ready_pod = S.pod(init=S.init_ok(), phase="Running", containers=S.running_main(), ready=True)
    v = diagnose(S.isvc_ready(), [ready_pod], [])
    assert (v.state, v.pod, v.url) == ("ready", S.POD, f"http://{S.ISVC}-{S.NS}.example.com")


def test_ready_through_ingress_needs_the_url():
    ready_pod = S.pod(init=S.init_ok(), phase="Running", containers=S.running_main(), ready=True)
    no_url = S.isvc(("IngressReady", "True"), ("PredictorReady", "True"), ("Ready", "True"))
    assert diagnose(no_url, [ready_pod], need_url=True, now=LATER).cause.code == "no-url"
    assert diagnose(S.isvc_ready(), [], need_url=True, need_pod=False).state == "ready"


def test_port_forward_only_needs_the_predictor():
    ready_pod = S.pod(init=S.init_ok(), phase="Running", containers=S.running_main(), ready=True)
    obj = S.isvc(("IngressReady", "False", "IngressNotConfigured"), ("PredictorReady", "True"), ("Ready", "False"))
    v = diagnose(obj, [ready_pod], now=LATER)
    assert v.state == "ready" and v.warnings and "not Ready" in v.warnings[0]


def test_pending_summary_reads_like_kubectl():
    v = diagnose(S.isvc_starting(), [S.pod(init=S.init_running(), containers=S.waiting_main())], [])
    assert v.state == "pending"
    assert "Ready=False" in v.summary and "PredictorReady=False (MinimumReplicasUnavailable)" in v.summary
    assert f"pod {S.POD}: Init:0/1" in v.summary


def test_no_status_yet_says_so():
    assert "no status yet" in diagnose(S.isvc(), [], []).summary


def test_failure_wins_over_waiting():
    v = diagnose(S.isvc_starting(), [S.storage_initializer_failed()], [])
    assert v.state == "failed" and v.cause.code == "storage-initializer"
