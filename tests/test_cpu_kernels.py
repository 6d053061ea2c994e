"""The numeric tests pass under other CPU math kernels too, not only under those this CPU picks.

Flow: for each kernel setting (environment variables that MKL, oneDNN and ATen read once, when
torch loads them: hence a fresh interpreter each) -> a probe process runs one MKL GEMM and one
oneDNN convolution with both libraries' verbose logs on, and the test asserts from those logs and
from torch's reported CPU capability that the setting took effect (so it cannot silently test
nothing) -> a pytest process with the same setting runs the numeric tests (tests/test_fixtures.py and
tests/test_mnist_fixture.py, fixture rebuilds included, and the CIFAR forward pass below) and must pass.
Tolerances come from tests/numeric.py; the plain suite run covers this CPU's default kernels.
"""
from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from harness.procs import merged_env
from tests.helpers import REPO, SHARED
from tests.numeric import CROSS_CPU_ATOL

CIFAR = SHARED / "corpus" / "modelmesh-pytorch-cifar"
# Every variable that changes which kernels run; dropped from the inherited environment so that
# each setting is exactly what it says.
KERNEL_VARS = ("MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
               "DNNL_MAX_CPU_ISA", "MKL_VERBOSE", "ONEDNN_VERBOSE", "DNNL_VERBOSE")
NUMERIC_TESTS = ("tests/test_fixtures.py", "tests/test_mnist_fixture.py",
                 "tests/test_cpu_kernels.py::test_cifar_forward_matches_documented_logits")


@dataclass(frozen=True)
class KernelSetting:
    """Environment for one kernel choice and the evidence that it was applied.

    Attributes:
        env: the variables to set.
        capability: what torch.backends.cpu.get_cpu_capability() must then report; None: ATen is
            left to pick its own kernels for this CPU.
        mkl_marker: text MKL_VERBOSE must print (its banner names the ISA, each call the CBWR mode).
        onednn_marker: text of the ``isa:`` line ONEDNN_VERBOSE must print.
        needs_avx2: the setting can only be reached on a CPU with AVX2.
        mkl_marker_intel_only: MKL names its ISA only on Intel CPUs (elsewhere its banner says
            "Intel(R) Architecture processors" and MKL_ENABLE_INSTRUCTIONS has nothing to select).
    """

    env: dict[str, str]
    capability: str | None
    mkl_marker: str
    onednn_marker: str
    needs_avx2: bool = False
    mkl_marker_intel_only: bool = False


SETTINGS = {
    # What an AVX2-only x86_64 CPU (most CI runners, older Xeons, many AMD parts) runs.
    "avx2": KernelSetting(
        env={"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
        capability="AVX2", mkl_marker="(Intel(R) AVX2) enabled processors", onednn_marker="isa:Intel AVX2",
        needs_avx2=True, mkl_marker_intel_only=True),
    # Another CPU of the same ATen capability: MKL and oneDNN choose by extensions ATen does not name
    # (on an AVX-512 CPU, oneDNN's AVX2 convolution backward moved Integrated Gradients by 1 ulp).
    "libraries-avx2": KernelSetting(
        env={"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
        capability=None, mkl_marker="(Intel(R) AVX2) enabled processors", onednn_marker="isa:Intel AVX2",
        needs_avx2=True, mkl_marker_intel_only=True),
    # The most different: MKL's reproducible-across-CPUs code path, scalar ATen loops (these also
    # change the float64 training), SSE4.1 oneDNN.
    "portable": KernelSetting(
        env={"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
        capability="DEFAULT", mkl_marker="CNR:COMPATIBLE", onednn_marker="isa:Intel SSE4.1"),
}

# One MKL SGEMM (linear) and one oneDNN convolution (the CIFAR model's first layer shape), so both
# libraries print their banners; then what ATen dispatches to.
PROBE = """
import torch
torch.nn.functional.linear(torch.ones(3, 64), torch.ones(10, 64))
torch.nn.functional.conv2d(torch.ones(1, 3, 32, 32), torch.ones(6, 3, 5, 5))
print("aten:", torch.backends.cpu.get_cpu_capability())
"""


def _python(args: list[str], setting: KernelSetting, extra: dict[str, str] | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with `args` under `setting` (plus `extra`), from the repository root."""
    env = merged_env({**setting.env, **(extra or {})}, drop=KERNEL_VARS)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


X86 = platform.machine() in ("x86_64", "AMD64")


def _intel_cpu() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.is_file() and "GenuineIntel" in cpuinfo.read_text()


def _cpu_has_avx2() -> bool:
    # From the CPU flags, not torch's capability: that one follows ATEN_CPU_CAPABILITY if it is set.
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        return " avx2" in cpuinfo.read_text()
    return X86 and torch.backends.cpu.get_cpu_capability() != "DEFAULT"


@pytest.fixture(params=sorted(SETTINGS), ids=str)
def setting(request) -> KernelSetting:
    chosen = SETTINGS[request.param]
    if chosen.needs_avx2 and not _cpu_has_avx2():
        pytest.skip(f"{request.param}: this CPU has no AVX2 ({platform.machine()})")
    return chosen


def _aten_line(setting: KernelSetting) -> str:
    """The pattern of the `aten: CAPABILITY` line the probes print under `setting`."""
    return f"aten: {setting.capability or '[A-Z0-9_]+'}"


def test_setting_takes_effect(setting: KernelSetting) -> None:
    proc = _python(["-c", PROBE], setting, {"MKL_VERBOSE": "1", "ONEDNN_VERBOSE": "1"})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert re.search(rf"^{_aten_line(setting)}$", log, re.M), log[-3000:]
    # The MKL and oneDNN markers name x86 ISAs; elsewhere only ATen's capability is checked.
    if X86 and torch.backends.mkl.is_available() and (_intel_cpu() or not setting.mkl_marker_intel_only):
        assert setting.mkl_marker in log, f"MKL ignored {setting.env}:\n{log[-3000:]}"
    if X86 and torch.backends.mkldnn.is_available():
        isa = [line for line in log.splitlines() if "isa:" in line]
        assert any(setting.onednn_marker in line for line in isa), f"oneDNN ignored {setting.env}: {isa}"


def test_numeric_tests_pass(setting: KernelSetting, tmp_path) -> None:
    # torch is imported before pytest starts collecting, so the line names what the tests ran on.
    runner = ("import sys, pytest, torch; print('aten:', torch.backends.cpu.get_cpu_capability(), flush=True); "
              "sys.exit(pytest.main(sys.argv[1:]))")
    args = ["-c", runner, "-q", "-rfEs", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'pytest'}", *NUMERIC_TESTS]
    proc = _python(args, setting, timeout=300)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"numeric tests fail under {setting.env} (exit {proc.returncode}):\n{out[-6000:]}", pytrace=False)
    assert re.match(rf"{_aten_line(setting)}\n", out), out[:200]
    assert re.search(r"\b\d+ passed\b", out.splitlines()[-1]), out[-2000:]


@pytest.mark.skipif(not CIFAR.is_dir(), reason=f"{CIFAR} is absent (../shared is not beside the repo)")
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_cifar_forward_matches_documented_logits() -> None:
    """The ModelMesh CIFAR TorchScript model, run here in-process, gives its documented logits.

    The same numbers tests/test_acceptance_cifar.py expects through TorchServe; here without a
    server, so the runs above can repeat it under each kernel setting.
    """
    tensor = json.loads((CIFAR / "example-models_pytorch_request.v2rest.json").read_text())["inputs"][0]
    documented = json.loads((CIFAR / "example-models_pytorch_expected_output.json").read_text())["OUTPUT__0"]
    model = torch.jit.load(str(CIFAR / "model.pt"), map_location="cpu").eval()
    with torch.inference_mode():
        got = model(torch.tensor(tensor["data"], dtype=torch.float32).reshape(tensor["shape"]))[0]
    assert torch.allclose(got.double(), torch.tensor(documented, dtype=torch.float64), rtol=0, atol=CROSS_CPU_ATOL), \
        (got.tolist(), documented)
    assert int(got.argmax()) == 8  # ship
