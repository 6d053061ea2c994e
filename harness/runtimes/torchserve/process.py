"""TorchServe started the way KServe's kserve-torchserve runtime starts it, on this machine.

Flow: the storage-initializer has put config/ and model-store/ in a model directory;
`TorchServe(model_dir, work_dir, envelope)` writes a local copy of config.properties whose
addresses are free 127.0.0.1 ports (a pod has its own network; two local runs must not collide),
whose model_store is the local one, and whose JVM temp dir (where worker sockets live) is
private; starts `torchserve --start --foreground --model-store=... --ts-config=...` with
TS_SERVICE_ENVELOPE in its own process group, TMPDIR and log dir; `wait_ready()` waits for a
READY worker on the management API (the only honest readiness signal) and fails early, quoting
the worker's own error, when the worker keeps dying. Used by the local target and by the fake
KServe controller alike.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.runtimes.torchserve.archive import parse_properties, write_properties
from harness.errors import ConfigError, DeployError, EnvironmentProblem
from harness.procs import ProcessGroup
from harness.waits import free_port, wait_until

# How many worker deaths we accept before calling the cause known (TorchServe retries forever).
MAX_WORKER_DEATHS = 2
_DEATH = re.compile(r"Backend worker process died|Load model failed|Failed to load model")


@dataclass(frozen=True)
class Ports:
    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int


def torchserve_executable(given: Path | None = None) -> str:
    if given is not None and not given.is_file():
        raise EnvironmentProblem("the runtime environment has no torchserve launcher", where=str(given),
                                 hint="rebuild it: harness runtime build")
    exe = str(given) if given else (
        shutil.which("torchserve", path=str(Path(sys.executable).parent)) or shutil.which("torchserve"))
    if not exe:
        raise EnvironmentProblem("torchserve is not installed", where=sys.executable,
                                 hint="install the project (see README): torchserve==0.12.0")
    if not shutil.which("java"):
        raise EnvironmentProblem("java is not on PATH; TorchServe's frontend needs Java 11+", where="PATH",
                                 hint="install a JDK (apt-get install openjdk-17-jre-headless)")
    return exe


def _message(r: httpx.Response) -> str:
    """TorchServe's own error message from a JSON error body, else the body's start."""
    try:
        return str(r.json().get("message") or r.text[:200])
    except (ValueError, AttributeError):
        return r.text[:200].strip()


MODEL_LOG_GRACE_S = 5.0

_LOG_PREFIX = re.compile(r"^\S+(?: \S+)? \[\w+ *\] \S+ \S+ - ")


def worker_error(model_log: Path, limit: int = 40) -> str:
    """The traceback that explains the worker's last death, from model_log.log; its last line
    names the exception (the first of its chain that is not TorchServe's own handler lookup).

    Two shapes occur. A handler failing inside initialize() is logged ("Failed to load model"),
    then "Backend worker process died." precedes TorchServe's generic "RuntimeError: 500 - Unknown
    exception": the earlier traceback explains. An import failure escapes to the worker's top
    level: "Backend worker process died." precedes the chain itself, whose first exception is
    the cause ("No module named 'does_not_exist'") and whose last is the loader's fallback import
    of ts.torch_handler.<handler>; with a built-in handler the chain starts with that lookup
    instead ("No module named 'image_classifier'") and the next exception is the cause.
    """
    if not model_log.is_file():
        return ""
    lines = [_LOG_PREFIX.sub("", ln) for ln in model_log.read_text(errors="replace").splitlines()]
    # A chain still being written (the worker's stderr reaches the log line by line) may so far show
    # only TorchServe's handler lookup, not its cause: such a chain is never quoted.
    chains = [c for c in (_chain(lines, i) for i, ln in enumerate(lines) if ln.startswith(_TRACEBACK)
                          and not _continues_chain(lines, i)) if c and _written_completely(lines, c)]
    incomplete = any(ln.startswith(_TRACEBACK) for ln in lines) and not chains
    deaths = [i for i, ln in enumerate(lines) if "Backend worker process died" in ln]
    chain = None
    for death in reversed(deaths):  # the newest death whose traceback is completely written
        after = next((c for c in chains if c[0].start > death), None)
        if after is None:
            continue
        before = [c for c in chains if c[-1].end < death]
        generic = _GENERIC_LOAD_FAILURE.match(after[-1].exception)
        chain = before[-1] if generic and before else after
        break
    if chain is None and chains:
        chain = chains[-1]
    if chain is None and incomplete:
        return ""
    if chain is None:
        errs = [ln for ln in lines if "Error" in ln or "error" in ln]
        return "\n".join(errs[-5:])
    cause = next((e for e in chain if not e.lookup_miss), chain[0])
    block = lines[cause.start:cause.end + 1]
    if len(block) > limit:  # keep the head line and the frames nearest the exception
        block = block[:1] + block[-(limit - 1):]
    return "\n".join(block)


_TRACEBACK = "Traceback (most recent call last):"
_CHAIN_LINKS = ("During handling of the above exception, another exception occurred:",
                "The above exception was the direct cause of the following exception:")
_FRAME_FILE = re.compile(r'^\s+File "(?P<file>[^"]+)", line \d+')
# handle_connection's exception after a load that load_model caught and logged itself.
_GENERIC_LOAD_FAILURE = re.compile(r"^RuntimeError: \d{3} - ")


@dataclass(frozen=True)
class _Exception:
    start: int  # the "Traceback" line
    end: int  # the exception line
    exception: str
    lookup_miss: bool  # the import system found no such module: TorchServe trying a handler name


def _one_exception(lines: list[str], start: int) -> _Exception | None:
    last_file = ""
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.startswith((" ", "\t")):
            if m := _FRAME_FILE.match(line):
                last_file = m["file"]
            continue
        if not line.strip():
            return None  # a traceback without its exception line: not written completely yet
        miss = line.startswith("ModuleNotFoundError:") and (
            last_file.startswith("<frozen importlib") or last_file.endswith("importlib/__init__.py"))
        return _Exception(start, i, line.strip(), miss)
    return None


def _chain(lines: list[str], start: int) -> list[_Exception]:
    """The exceptions of the chain printed from lines[start] on, oldest (the cause) first."""
    chain: list[_Exception] = []
    while (exc := _one_exception(lines, start)) is not None:
        chain.append(exc)
        link = next((j for j in range(exc.end + 1, min(exc.end + 4, len(lines))) if lines[j] in _CHAIN_LINKS), None)
        nxt = next((j for j in range(link + 1, min(link + 3, len(lines))) if lines[j].startswith(_TRACEBACK)),
                   None) if link is not None else None
        if nxt is None:
            break
        start = nxt
    return chain


def _written_completely(lines: list[str], chain: list[_Exception]) -> bool:
    """Whether the chain shows its last link: no link line follows its last exception (the next
    traceback is still to come), and it is not a lone handler lookup miss (TorchServe's loader
    always follows that with its fallback import, whose exception is the next link)."""
    follows = lines[chain[-1].end + 1:chain[-1].end + 4]
    lone_miss = len(chain) == 1 and chain[0].lookup_miss
    return not lone_miss and not any(ln in _CHAIN_LINKS for ln in follows)


def _continues_chain(lines: list[str], i: int) -> bool:
    """Whether the traceback at lines[i] is a later link of a chain printed just above it."""
    return any(ln in _CHAIN_LINKS for ln in lines[max(0, i - 2):i])


class TorchServe:
    """One TorchServe server for one model directory."""

    def __init__(self, model_dir: Path, work_dir: Path, *, envelope: str, heap: str = "512m",
                 executable: Path | None = None) -> None:
        self.model_dir = model_dir
        self._dying_since: float | None = None  # when the worker deaths first reached MAX_WORKER_DEATHS
        # The runtime environment's launcher: TorchServe starts its workers with the python that
        # runs the launcher, so handlers import what the image ships.
        self.executable = executable
        self.work_dir = work_dir
        self.envelope = envelope
        self.heap = heap
        self.log_dir = work_dir / "logs"
        self.tmp_dir = work_dir / "tmp"
        # Worker sockets live in java.io.tmpdir, and a Unix socket path must stay under 108 bytes:
        # a deep run directory would not fit, so the JVM gets a short private folder of its own.
        self.jvm_tmp_dir: Path | None = None
        self.config_path = work_dir / "config.properties"
        self.ports = Ports(*(free_port() for _ in range(5)))
        self.group: ProcessGroup | None = None

    # -- addresses ------------------------------------------------------------------------------
    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.inference}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.management}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}/metrics"

    @property
    def model_log(self) -> Path:
        return self.log_dir / "model_log.log"

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.log_dir.glob("*.log")) + [self.work_dir / "torchserve.out"]

    # -- start / stop ---------------------------------------------------------------------------
    def _local_config(self) -> dict[str, str]:
        source = self.model_dir / "config" / "config.properties"
        if not source.is_file():
            raise DeployError("config/config.properties is missing from the downloaded model", where=str(source),
                              hint="the storageUri must hold config/config.properties and model-store/NAME.mar")
        props = parse_properties(source.read_text())
        if props.get("inference_address") and props.get("inference_address") == props.get("management_address"):
            # One port for both APIs, as in KServe's samples and the harness's own config: keep it so.
            self.ports = dataclasses.replace(self.ports, management=self.ports.inference)
        p = self.ports
        props.update({
            "inference_address": f"http://127.0.0.1:{p.inference}",
            "management_address": f"http://127.0.0.1:{p.management}",
            "metrics_address": f"http://127.0.0.1:{p.metrics}",
            "grpc_inference_port": str(p.grpc_inference),
            "grpc_management_port": str(p.grpc_management),
            "model_store": str(self.model_dir / "model-store"),
        })
        # Worker sockets live in java.io.tmpdir whatever TMPDIR says: keep them private.
        vmargs = props.get("vmargs", "")
        if "-Xmx" not in vmargs:
            vmargs += f" -Xmx{self.heap}"
        props["vmargs"] = f"{vmargs} -Djava.io.tmpdir={self.jvm_tmp_dir}".strip()
        return props

    def start(self) -> "TorchServe":
        exe = torchserve_executable(self.executable)
        for d in (self.log_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.jvm_tmp_dir = Path(tempfile.mkdtemp(prefix="ts-"))
        self.config_path.write_text(write_properties(self._local_config()))
        env = {"TMPDIR": str(self.tmp_dir), "LOG_LOCATION": str(self.log_dir), "METRICS_LOCATION": str(self.log_dir)}
        if self.envelope != "none":
            env["TS_SERVICE_ENVELOPE"] = self.envelope
        self.group = ProcessGroup(
            # The arguments of KServe's runtime, plus --foreground: in a pod the container keeps
            # TorchServe's launcher alive; here its exit is how we notice a crashed frontend.
            [exe, "--start", "--foreground", f"--model-store={self.model_dir / 'model-store'}",
             f"--ts-config={self.config_path}"],
            name="TorchServe", log_path=self.work_dir / "torchserve.out", env=env, cwd=self.work_dir,
            temp_dirs=[self.jvm_tmp_dir],
        ).start()
        return self

    def stop(self) -> None:
        if self.group:
            self.group.stop(grace_s=10.0)
        if self.jvm_tmp_dir:
            shutil.rmtree(self.jvm_tmp_dir, ignore_errors=True)
        # Token authorization writes live keys into the working directory (inside the report): never keep them.
        (self.work_dir / "key_file.json").unlink(missing_ok=True)

    def __enter__(self) -> "TorchServe":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- readiness ------------------------------------------------------------------------------
    def describe(self, model_name: str, *, refusal_is_final: bool = False) -> list[dict] | None:
        """The management API's description of the model (batch size, delay, workers).

        Args:
            refusal_is_final: a 4xx answer (token authorization, a model TorchServe did not register)
                raises at once instead of counting as "not answering yet".
        """
        url = f"{self.management_url}/models/{model_name}"
        try:
            r = httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            return None
        if refusal_is_final and 400 <= r.status_code < 500:
            raise ConfigError(f"TorchServe's management API refused {model_name!r}: HTTP {r.status_code} "
                              f"{_message(r)}", where=url, details=r.text[:4000],
                              hint="token authorization must stay off (disable_token_authorization=true) and the "
                                   "model name must be one TorchServe registers; see ts_log.log in diagnostics/")
        try:
            return r.json() if r.status_code == 200 else None
        except ValueError:
            return None

    def _worker_deaths(self) -> int:
        logs = [self.model_log, self.log_dir / "ts_log.log"]
        return sum(len(_DEATH.findall(p.read_text(errors="replace"))) for p in logs if p.is_file())

    def worker_state(self, model_name: str) -> str:
        desc = self.describe(model_name)
        if not desc:
            return "management API not answering yet"
        workers = desc[0].get("workers", [])
        return ", ".join(f"worker {w.get('id')}: {w.get('status')}" for w in workers) or "no workers"

    def _ready_probe(self, model_name: str) -> bool | None:
        if self.group and (code := self.group.exited()) is not None:
            out = (self.work_dir / "torchserve.out").read_text(errors="replace").strip().splitlines()
            causes = [ln.strip() for ln in out if not ln.startswith(("\tat ", "\t...")) and
                      re.search(r"Exception|Error|failed", ln)]
            cause = causes[0] if causes else (out[-1] if out else "no output")
            raise DeployError(f"TorchServe exited with status {code} during start-up: {cause}",
                              where=str(self.work_dir / "torchserve.out"), details="\n".join(out[-40:]),
                              hint="see the TorchServe logs in the report's diagnostics")
        desc = self.describe(model_name, refusal_is_final=True)
        if desc and any(w.get("status") == "READY" for w in desc[0].get("workers", [])):
            return True
        if self._worker_deaths() >= MAX_WORKER_DEATHS:
            err = worker_error(self.model_log)
            # The frontend logs the deaths (ts_log.log) before its appender has written the worker's
            # own traceback (model_log.log): give that a moment, so the error can quote it.
            self._dying_since = self._dying_since or time.monotonic()
            if not err.strip() and time.monotonic() - self._dying_since < MODEL_LOG_GRACE_S:
                return None
            last = err.strip().splitlines()[-1] if err.strip() else "see model_log.log"
            raise DeployError(f"TorchServe worker for {model_name!r} keeps dying: {last}",
                              where=str(self.model_log), details=err,
                              hint="the handler or model fails to load; the worker's traceback is in the report")
        return None

    def wait_ready(self, model_name: str, timeout_s: float) -> float:
        """Block until a worker is READY; return the seconds it took."""
        start = time.monotonic()
        wait_until(lambda: self._ready_probe(model_name), what=f"a READY TorchServe worker for {model_name!r}",
                   where=self.management_url, timeout_s=timeout_s, interval_s=0.2,
                   last_seen=lambda: self.worker_state(model_name) + "; " + (worker_error(self.model_log)[-300:] or "no worker error logged"),
                   hint="raise torchserve.startup_timeout_s, or read the worker log in diagnostics/")
        return time.monotonic() - start
