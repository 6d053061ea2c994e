"""Runs inside the Locust process(es) only: imports nothing but the stdlib, gevent and locust
(and for grpc-v2, after locust, grpc and tritonclient's generated stubs).

Flow: the runner writes a JSON plan and points HARNESS_LOAD_PLAN at it; this file reads it at
import, defines one active User class (open or closed loop) and a LoadTestShape that bounds the
run; every request is recorded raw (intended send time, actual send time, completion, status,
bytes, error message) into records-<pid>.jsonl in the plan's out_dir; a status-<pid>.json is
rewritten every second for the runner's progress and self-check; when this process's share of
the work is done it flushes, marks itself finished and quits (a worker's quit tells the master).
In-cluster load (harness.kube.load_pods) runs this file unchanged in the official Locust image:
HARNESS_LOAD_INDEX gives a standalone pod its share, and the plan's `upload` makes `_finish` put
records and status under the run's storage prefix (GCS JSON API, urllib; STORAGE_EMULATOR_HOST,
else the GKE metadata server's token).

Open loop: request k of process w (of N) is due at stage_start + (k*N + w) / rate. It is sent
from its own greenlet, so a slow server never lowers the offered rate; when `max_in_flight`
requests are outstanding a due request is dropped and recorded as such (status -1), never
delayed. Latency is measured from the intended time; send lag (actual - intended) is kept.
Closed loop: each user sends, waits for the answer (and the think time), and sends again.

Record line: [stage, warm, t_intended, t_sent, t_done, status, bytes, error, side]; times are epoch
seconds (wall clock at start + a monotonic offset); status 0 = transport error, -1 = dropped at
the in-flight limit, -2 = no answer before the run's end; side = the index into the plan's `sides`
(0 without them).

grpc-v2: each body file holds a serialized ModelInferRequest (the runner builds it); every
request is one ModelInfer call on one channel per process, made cooperative with gevent
(`grpc.experimental.gevent.init_gevent`, before any channel exists). OK is status 200; the codes
the plan names as transport failures are status 0; any other code is the plan's HTTP mapping,
the message "CODE: details".
"""
from __future__ import annotations

import json
import math
import os
import time

from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
from locust import LoadTestShape, User, constant, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

_PLAN_PATH = os.environ.get("HARNESS_LOAD_PLAN")
if not _PLAN_PATH:
    raise RuntimeError("HARNESS_LOAD_PLAN is not set: this locustfile is started by harness.load.runner")
with open(_PLAN_PATH) as _f:
    PLAN = json.load(_f)

_PERF0 = time.perf_counter()
_WALL0 = time.time()


def now() -> float:
    """Epoch seconds from a monotonic clock (precise within the process, comparable across them)."""
    return _WALL0 + (time.perf_counter() - _PERF0)


# Where requests go: the plan itself, or for an interleaved A/B run (harness.ab.blocks) its two
# `sides`, each with its own address, path, headers and bodies; request seq goes to side_of(seq).
SIDES = PLAN.get("sides") or [PLAN]


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


BODIES: list[list[bytes]] = [[_read(p) for p in side["bodies"]] for side in SIDES]
HEADERS = [dict(side["headers"]) for side in SIDES]
PATHS = [side["path"] for side in SIDES]
GRPC = PLAN.get("protocol") == "grpc-v2"
if GRPC:
    # Only now, after locust's import monkey-patched the process: grpc must run its I/O on gevent's
    # hub, else each call would block every greenlet of this process until it returns.
    import grpc
    from grpc.experimental import gevent as grpc_gevent

    grpc_gevent.init_gevent()
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    REQUESTS = [[service_pb2.ModelInferRequest.FromString(b) for b in bodies] for bodies in BODIES]
    GRPC_TO_HTTP = dict(PLAN["grpc_to_http"])
    GRPC_TRANSPORT = frozenset(PLAN["grpc_transport_codes"])
STAGES = PLAN["stages"]  # [{duration_s, warmup_s, rate, users, spawn_rate}]
STAGE_STARTS = []
_acc = 0.0
for _st in STAGES:
    STAGE_STARTS.append(_acc)
    _acc += _st["warmup_s"] + _st["duration_s"]
TOTAL_S = _acc
DRAIN_S = float(PLAN["drain_s"])
OUT_DIR = PLAN["out_dir"]
PROCESSES = int(PLAN["processes"])
BEHIND_LIMIT_S = 1.0  # open loop: a stage's sending stops this long after its scheduled end


class _State:
    """This process's share of the run."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.role = "local"
        self.index = 0
        self.buffer: list[list] = []
        self.in_flight: dict[int, tuple] = {}
        self.seq = 0
        self.sent = self.ok = self.errors = self.dropped = 0
        self.finished = False
        self.schedule_done = False
        self.schedule_started = False
        self.unsent = 0
        self.spawned = 0  # open loop: sends spawned whose greenlet has not started yet (not in in_flight)
        self.cpu0 = None
        self.cpu_last = None
        self.cpu_percent_last = 0.0
        self.path = os.path.join(OUT_DIR, f"records-{os.getpid()}.jsonl")
        self.status_path = os.path.join(OUT_DIR, f"status-{os.getpid()}.json")
        self.file = None

    def stage_of(self, t: float) -> tuple[int, int]:
        """(stage index, warm flag) for an offset from t0; -1 past the end."""
        rel = t - self.t0
        for i in range(len(STAGES) - 1, -1, -1):
            if rel >= STAGE_STARTS[i]:
                if rel >= STAGE_STARTS[i] + STAGES[i]["warmup_s"] + STAGES[i]["duration_s"]:
                    return -1, 0
                return i, int(rel < STAGE_STARTS[i] + STAGES[i]["warmup_s"])
        return 0, 1

    def record(self, row: list) -> None:
        self.buffer.append(row)

    def flush(self) -> None:
        if self.file is None:
            self.file = open(self.path, "a", buffering=1 << 16)
        rows, self.buffer = self.buffer, []
        if rows:
            self.file.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
        self.file.flush()

    def write_status(self) -> None:
        c = os.times()
        cpu = c.user + c.system
        t = time.perf_counter()
        if self.cpu_last is not None:
            dc, dt = cpu - self.cpu_last[0], t - self.cpu_last[1]
            self.cpu_percent_last = 100.0 * dc / dt if dt > 0 else 0.0
        self.cpu_last = (cpu, t)
        status = {
            "pid": os.getpid(), "role": self.role, "index": self.index, "t0": self.t0,
            "sent": self.sent, "ok": self.ok, "errors": self.errors, "dropped": self.dropped, "unsent": self.unsent,
            "in_flight": len(self.in_flight), "finished": self.finished,
            "cpu_percent_last": round(self.cpu_percent_last, 1),
            "cpu_seconds": round(cpu - self.cpu0[0], 4) if self.cpu0 else 0.0,
            "wall_s": round(t - self.cpu0[1], 4) if self.cpu0 else 0.0,
            "updated": now(),
        }
        tmp = self.status_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(status, f)
        os.replace(tmp, self.status_path)


STATE = _State()


def _error_text(status: int, body: bytes) -> str:
    """A short, stable message: the server's JSON `message`, else its body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            for key in ("message", "error", "detail"):
                if isinstance(doc.get(key), str):
                    return doc[key][:200]
    except ValueError:
        pass
    return text[:200] or f"HTTP {status}"


def side_of(seq: int) -> int:
    """Interleaved A/B: requests 2k and 2k+1 go one to each side, in an order a hash of k picks
    (balanced in every pair, no fixed period for the server to fall into step with)."""
    if len(SIDES) == 1:
        return 0
    flip = ((seq // 2) * 2654435761 >> 16) & 1  # Knuth's multiplicative hash
    return (seq % 2) ^ flip


def _make_client(side: dict) -> HTTPClient:
    """One keep-alive connection pool per process and side, shared by its greenlets (Locust's
    FastHttpUser uses the same library; going direct keeps the per-request cost and the timing
    window small)."""
    u = urlsplit(side["base_url"])
    users = max([int(s["users"] or 0) for s in STAGES] + [1])
    size = int(PLAN["max_in_flight"]) if PLAN["mode"] == "open" else users
    return HTTPClient(u.hostname, u.port, ssl=u.scheme == "https", insecure=True, concurrency=size,
                      connection_timeout=float(PLAN["timeout_s"]), network_timeout=float(PLAN["timeout_s"]))


def _make_grpc_stub(side: dict):
    """One channel (one HTTP/2 connection, requests multiplexed on it) per process and side."""
    channel = grpc.insecure_channel(side["grpc_target"], options=[tuple(o) for o in side["grpc_options"]])
    return service_pb2_grpc.GRPCInferenceServiceStub(channel)


def _call_grpc(seq: int, side: int) -> tuple[int, int, str | None]:
    """One ModelInfer: (status, bytes received, error message or None)."""
    requests = REQUESTS[side]
    try:
        answer = CLIENTS[side].ModelInfer(requests[seq % len(requests)], timeout=float(PLAN["timeout_s"]))
    except grpc.RpcError as exc:
        code = exc.code().name if exc.code() else "UNKNOWN"
        msg = f"{code}: {' '.join((exc.details() or '').split())}"[:200]
        return (0 if code in GRPC_TRANSPORT else GRPC_TO_HTTP.get(code, 500)), 0, msg
    return 200, answer.ByteSize(), None


CLIENTS = [_make_grpc_stub(side) if GRPC else _make_client(side) for side in SIDES]
_fire = events.request.fire
_REQUEST_TYPE, _REQUEST_NAME = ("grpc", "ModelInfer") if GRPC else ("POST", "predict")


def _send(seq: int, stage: int, warm: int, t_int: float) -> None:
    side = side_of(seq)
    bodies = BODIES[side]
    body = bodies[seq % len(bodies)]
    t_sent = now()
    STATE.in_flight[seq] = (stage, warm, t_int, t_sent)
    STATE.sent += 1
    status, nbytes, err = 0, 0, None
    try:
        if GRPC:
            status, nbytes, err = _call_grpc(seq, side)
        else:
            resp = CLIENTS[side].request("POST", PATHS[side], body=body, headers=HEADERS[side])
            status = resp.status_code
            data = resp.read()
            nbytes = len(data)
            if not 200 <= status < 300:
                err = _error_text(status, data)
    except gevent.GreenletExit:
        raise
    except Exception as exc:  # transport: refused, reset, timed out, closed early
        status, err = 0, f"{type(exc).__name__}: {exc}"[:200]
    t_done = now()
    STATE.in_flight.pop(seq, None)
    if err is None:
        STATE.ok += 1
    else:
        STATE.errors += 1
    STATE.record([stage, warm, t_int, t_sent, t_done, status, nbytes, err, side])
    # Locust's own statistics (its console summary) see the same requests.
    _fire(request_type=_REQUEST_TYPE, name=_REQUEST_NAME, response_time=(t_done - t_sent) * 1000.0, response_length=nbytes,
          exception=RuntimeError(err) if err else None, context={})


class _Base(User):
    abstract = True
    host = PLAN["base_url"]


class OpenLoopUser(_Base):
    """One per process: schedules this process's share of the arrivals."""

    abstract = PLAN["mode"] != "open"

    @task
    def schedule(self) -> None:
        if STATE.schedule_started:
            # Locust's master re-balances users when a finished worker quits: a second open-loop
            # user in this process would replay the schedule. One per process, ever.
            raise StopUser()
        STATE.schedule_started = True
        _begin()
        max_in_flight = int(PLAN["max_in_flight"])
        n, w = PROCESSES, STATE.index
        for si, st in enumerate(STAGES):
            start = STATE.t0 + STAGE_STARTS[si]
            length = st["warmup_s"] + st["duration_s"]
            rate = float(st["rate"])
            k = 0
            while True:
                off = (k * n + w) / rate
                if off >= length:
                    break
                t_int = start + off
                if now() > start + length + BEHIND_LIMIT_S:
                    # Far behind schedule: this process cannot generate the rate. Stop, stay bounded.
                    STATE.unsent += math.ceil((length * rate - w) / n) - k
                    break
                _sleep_until(t_int)
                warm = int(off < st["warmup_s"])
                seq = STATE.seq
                STATE.seq += 1
                if len(STATE.in_flight) >= max_in_flight:
                    STATE.dropped += 1
                    STATE.errors += 1
                    t = now()
                    STATE.record([si, warm, t_int, t, t, -1, 0,
                                  f"dropped: {max_in_flight} requests already awaiting an answer", side_of(seq)])
                else:
                    STATE.spawned += 1
                    gevent.spawn(_spawned_send, seq, si, warm, t_int)
                k += 1
        _wait_drained()
        STATE.schedule_done = True
        raise StopUser()


class ClosedLoopUser(_Base):
    """Send, wait for the answer, think, repeat until the last stage ends."""

    abstract = PLAN["mode"] != "closed"
    wait_time = constant(float(PLAN["wait_time_s"]))

    def on_start(self) -> None:
        _begin()

    @task
    def one(self) -> None:
        t = now()
        stage, warm = STATE.stage_of(t)
        if stage < 0:
            raise StopUser()
        seq = STATE.seq
        STATE.seq += 1
        _send(seq, stage, warm, t)


class PlanShape(LoadTestShape):
    """Bounds the whole run: the plan's users per stage, then stop after the drain time."""

    def tick(self):
        t = self.get_run_time()
        if t >= TOTAL_S + DRAIN_S + 2.0:
            return None
        if PLAN["mode"] == "open":
            return (PROCESSES, float(PROCESSES))
        for i in range(len(STAGES) - 1, -1, -1):
            if t >= STAGE_STARTS[i]:
                return (int(STAGES[i]["users"]), float(STAGES[i]["spawn_rate"] or STAGES[i]["users"]))
        return (int(STAGES[0]["users"]), float(STAGES[0]["spawn_rate"] or STAGES[0]["users"]))


def _sleep_until(t: float) -> None:
    """gevent's timers wake up to ~1 ms late; sleep short of the mark, then yield until it."""
    delay = t - now()
    if delay > 0.002:
        gevent.sleep(delay - 0.0015)
    while now() < t:
        gevent.sleep(0)


def _begin() -> None:
    """First user of this process: fix t0 (the closed loop's is the test start)."""
    if STATE.t0 is None:
        STATE.t0 = now()
        STATE.write_status()  # the runner schedules its server scrapes from t0


def _spawned_send(seq: int, stage: int, warm: int, t_int: float) -> None:
    STATE.spawned -= 1
    _send(seq, stage, warm, t_int)


def _wait_drained() -> None:
    deadline = now() + DRAIN_S
    # A send spawned last may not have started yet: it is not in in_flight, but it is not done either.
    while (STATE.in_flight or STATE.spawned) and now() < deadline:
        gevent.sleep(0.01)


def _controller(environment) -> None:
    """Flush every second; when this process's work is done, record leftovers, finish, quit."""
    try:
        while True:
            gevent.sleep(1.0)
            STATE.flush()
            STATE.write_status()
            if STATE.t0 is None:
                continue
            past_end = now() >= STATE.t0 + TOTAL_S
            if PLAN["mode"] == "open":
                done = STATE.schedule_done
            else:
                done = past_end and (not STATE.in_flight or now() >= STATE.t0 + TOTAL_S + DRAIN_S)
            if done:
                break
    finally:
        _finish()
    gevent.spawn(environment.runner.quit)


def _finish() -> None:
    if STATE.finished:
        return
    t = now()
    for seq, (stage, warm, t_int, t_sent) in list(STATE.in_flight.items()):
        STATE.record([stage, warm, t_int, t_sent, t, -2, 0, "no answer before the end of the run", side_of(seq)])
    STATE.in_flight.clear()
    STATE.finished = True
    STATE.flush()
    STATE.write_status()
    if PLAN.get("upload"):
        _upload_results(PLAN["upload"])


def _gcs_token() -> str | None:
    """No token for an emulator; on GKE the node's (or Workload Identity's) from the metadata server."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return None
    import urllib.request

    req = urllib.request.Request(
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
        headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["access_token"]


def _upload_results(upload: dict) -> None:
    """In-cluster load: put this process's records and status under the run's storage prefix
    (GCS JSON API, stdlib only: the official Locust image has nothing else to offer)."""
    import urllib.parse
    import urllib.request

    host = (os.environ.get("STORAGE_EMULATOR_HOST") or "https://storage.googleapis.com").rstrip("/")
    if "://" not in host:
        host = "http://" + host
    token = _gcs_token()
    tag = os.environ.get("HARNESS_LOAD_INDEX", "0")
    for local, kind in ((STATE.path, "records"), (STATE.status_path, "status")):
        if not os.path.exists(local):
            continue
        name = f"{upload['prefix'].strip('/')}/{kind}-{tag}.{'jsonl' if kind == 'records' else 'json'}"
        url = (f"{host}/upload/storage/v1/b/{urllib.parse.quote(upload['bucket'], safe='')}/o"
               f"?uploadType=media&name={urllib.parse.quote(name, safe='')}")
        with open(local, "rb") as f:
            data = f.read()
        headers = {"Content-Type": "application/octet-stream"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(5):
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method="POST"),
                                            timeout=60) as resp:
                    resp.read()
                break
            except OSError as exc:
                if attempt == 4:
                    print(f"harness: upload of {name} failed: {exc}", flush=True)
                    raise
                gevent.sleep(1.0 + attempt)
    print(f"harness: uploaded records and status to gs://{upload['bucket']}/{upload['prefix']}", flush=True)


@events.test_start.add_listener
def _on_test_start(environment, **_kw) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return
    STATE.role = "worker" if isinstance(runner, WorkerRunner) else "local"
    # In-cluster load (harness.kube.load_pods): standalone pods, each told its share by its env.
    index = os.environ.get("HARNESS_LOAD_INDEX") or getattr(runner, "worker_index", 0) or 0
    STATE.index = max(0, int(index)) % PROCESSES
    c = os.times()
    STATE.cpu0 = (c.user + c.system, time.perf_counter())
    STATE.cpu_last = STATE.cpu0
    if PLAN["mode"] == "closed":
        STATE.t0 = now()
    STATE.write_status()
    gevent.spawn(_controller, environment)


@events.quitting.add_listener
def _on_quitting(environment, **_kw) -> None:
    if not isinstance(environment.runner, MasterRunner) and STATE.cpu0 is not None:
        _finish()
