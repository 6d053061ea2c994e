"""Cold start, phase by phase, from recorded cluster objects (harness.kube.cold_start, pure).

tests/kube/data/cold-start-gke.json is a GKE cold start as the API returns it: the
InferenceService, its predictor pod (conditions, container states), the namespace's events (the
scheduler's events.k8s.io Scheduled, the kubelet's Pulling/Pulled/Created/Started, a ReplicaSet's)
and the two container logs read with timestamps=true.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from harness.kube.cold_start import (go_duration, kube_cold_start, stage_cold_start, stamp, uploaded_sizes,
                                     with_first_answer)
from harness.report.model import COLD_START_PHASES

GKE = json.loads((Path(__file__).parent / "data" / "cold-start-gke.json").read_text())


def _run(**changes):
    rec = copy.deepcopy(GKE)
    rec.update(changes)
    return kube_cold_start(rec["isvc"], rec["pod"], rec["events"], init_log=rec["init_log"],
                           model_log=rec["model_log"], uploaded=rec["uploaded"])


def _table(cs):
    return {p.name: (p.at_s, p.seconds, p.bytes) for p in cs.phases}


def test_a_recorded_gke_cold_start_reads_phase_by_phase():
    cs = _run()
    assert cs.origin == "InferenceService creationTimestamp 2026-11-20T14:12:05Z"
    assert [p.name for p in cs.phases] == [n for n in COLD_START_PHASES if n != "first-answer"]
    assert _table(cs) == {
        "scheduled": (1.413, 1.413, None),  # the scheduler's eventTime (µs), from creation (1 s)
        "init-image-pulled": (6.0, 3.912, 412853211),  # the Pulled message's time and image size
        "storage-download": (13.0, 7.0, 627 + 15209),  # startedAt -> finishedAt; the files kserve-storage named
        "image-pulled": (76.0, 62.107, 5804432937),  # "including waiting": what the pod waited
        "container-started": (76.0, 0.0, None),
        "model-loaded": (88.719, 12.719, None),  # the first worker's WORKER_MODEL_LOADED, kubelet timestamp
        "front-ready": (93.0, 4.281, None),  # ContainersReady
    }
    by = {p.name: p for p in cs.phases}
    assert by["storage-download"].detail == "2 file(s); kserve-storage: downloaded in 3.0316 s"
    assert by["image-pulled"].detail == "pulled pytorch/torchserve-kfs:0.12.0 in 47.58s (1m2.107s including waiting)"
    assert by["storage-download"].resolution_s == 1.0 and by["image-pulled"].resolution_s == 0.001
    assert all(p.missing is None for p in cs.phases)


def test_the_first_correct_answer_ends_the_timeline():
    cs = with_first_answer(_run(), stamp("2026-11-20T14:13:39.250Z")[0], "check three-digits-v1 passed")
    last = cs.phases[-1]
    assert (last.name, last.at_s, last.seconds) == ("first-answer", 94.25, 1.25)
    assert last.detail == "check three-digits-v1 passed"
    missing = with_first_answer(_run(), None, "no check passed").phases[-1]
    assert missing.at_s is None and missing.seconds is None and missing.missing == "no check passed"


def test_missing_data_leaves_the_phase_absent_with_its_reason_never_zero():
    rec = copy.deepcopy(GKE)
    pod = rec["pod"]
    del pod["spec"]["initContainers"], pod["status"]["initContainerStatuses"]  # a custom predictor: no STORAGE_URI
    pod["status"]["conditions"] = [c for c in pod["status"]["conditions"] if c["type"] != "ContainersReady"]
    events = [e for e in rec["events"] if e["reason"] != "Pulled"]
    cs = kube_cold_start(rec["isvc"], pod, events, model_log="2026-11-20T14:13:36.5Z INFO:kserve:Registering model\n")
    by = {p.name: p for p in cs.phases}
    assert by["init-image-pulled"].missing == "no storage-initializer in the pod"
    assert by["storage-download"].missing == "no storage-initializer in the pod"
    assert by["image-pulled"].missing == "no Pulled event for pytorch/torchserve-kfs:0.12.0"
    assert by["model-loaded"].missing == "no TorchServe WORKER_MODEL_LOADED line in the kserve-container log"
    assert by["front-ready"].missing == "the containers never became ready"
    for name in ("init-image-pulled", "storage-download", "image-pulled", "model-loaded", "front-ready"):
        assert by[name].at_s is None and by[name].seconds is None
    # The present ones still chain: container-started counts from the last present phase (scheduled).
    assert _table(cs)["container-started"] == (76.0, 74.587, None)


def test_an_image_already_on_the_node_is_a_zero_second_pull_the_kubelet_states():
    events = copy.deepcopy(GKE["events"])
    for e in events:
        if e["reason"] == "Pulled" and "torchserve" in e["message"]:
            e["message"] = 'Container image "pytorch/torchserve-kfs:0.12.0" already present on machine'
    phase = next(p for p in _run(events=events).phases if p.name == "image-pulled")
    assert (phase.seconds, phase.bytes) == (0.0, None)
    assert phase.detail == "pytorch/torchserve-kfs:0.12.0 already present on the node"


def test_a_failed_storage_initializer_or_unscheduled_pod_is_absent():
    pod = copy.deepcopy(GKE["pod"])
    pod["status"]["initContainerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    pod["status"]["conditions"] = []
    events = [e for e in GKE["events"] if e["reason"] != "Scheduled"]
    by = {p.name: p for p in _run(pod=pod, events=events).phases}
    assert by["storage-download"].missing == "storage-initializer has not completed"
    assert by["scheduled"].missing == "the pod was never scheduled"


def test_bytes_unknown_when_no_download_line_matches_the_upload():
    phase = next(p for p in _run(init_log="").phases if p.name == "storage-download")
    assert phase.seconds == 7.0 and phase.bytes is None and "bytes unknown" in phase.detail


@pytest.mark.parametrize("text, seconds", [("1.234s", 1.234), ("400ms", 0.4), ("2m3.5s", 123.5),
                                           ("1h0m1s", 3601.0), ("2.906217335s", 2.906217335),
                                           ("850µs", 0.00085), ("soon", None), ("", None)])
def test_go_durations(text, seconds):
    assert go_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_timestamps_keep_their_resolution():
    whole = dt.datetime(2026, 11, 20, 14, 12, 5, tzinfo=dt.timezone.utc).timestamp()
    assert stamp("2026-11-20T14:12:05Z") == (whole, 1.0)
    at, res = stamp("2026-11-20T14:12:06.412873Z")
    assert at == pytest.approx(whole + 1.412873) and res == pytest.approx(1e-6)
    assert stamp("2026-11-20T15:12:05+01:00") == (whole, 1.0)
    assert stamp(None) is None and stamp("yesterday") is None


def test_uploaded_sizes_are_keyed_under_the_storage_uri():
    objects = [{"name": "models/digits/config/config.properties", "size": 627},
               {"name": "models/digits/model-store/digits.mar", "size": 15209}]
    assert uploaded_sizes("gs://bucket/models/digits", objects) == GKE["uploaded"]


def test_the_local_targets_stage_timings_fill_the_phases_it_has():
    log = "x INFO storage.initializer Downloading: /run/work/mnt/models/model-store/digits.mar\n"
    cs = stage_cold_start({"storage-init": 1.5, "runtime-env": 20.0, "torchserve-ready": 4.25, "front-ready": 2.0},
                          1000.0, storage_log=log, uploaded=GKE["uploaded"])
    assert cs.origin == "deploy start (local target)"
    assert _table(cs) == {"scheduled": (None, None, None), "init-image-pulled": (None, None, None),
                          "storage-download": (1.5, 1.5, 15209), "image-pulled": (21.5, 20.0, None),
                          "container-started": (None, None, None), "model-loaded": (25.75, 4.25, None),
                          "front-ready": (27.75, 2.0, None)}
    by = {p.name: p for p in cs.phases}
    assert by["scheduled"].missing == "the local target has no scheduled stage"
    reused = stage_cold_start({"storage-init": 1.5, "torchserve-ready": 4.25}, 1000.0)
    assert reused.phase("image-pulled").missing == "runtime environment reused: nothing was built"
