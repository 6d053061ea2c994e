"""What a runtime's report section says served: the versions that ran beside those its image ships.

Flow: a runtime's `info()` fills `shipped` from its image table -> `fill_what_ran()` adds
`ran` (read from the local runtime environment, or the image's own on a cluster) and `differences`,
one "package: image X, ran Y" line per package whose release differs. Shared by every runtime.
"""
from __future__ import annotations

from typing import Any

from harness.report.model import RuntimeInfo
from harness.runtimes.torchserve.compat import release


def _same_release(want: str, got: str) -> bool:
    """'2.4.0' ran as '2.4.0+cu121' (local build tags ignored); python '3.9' as '3.9.18'."""
    wanted = release(want)
    return release(got)[:len(wanted)] == wanted


def differences(shipped: dict[str, str], ran: dict[str, str]) -> list[str]:
    """'package: image X, ran Y' for every package whose release differs."""
    out = []
    for name, want in shipped.items():
        got = ran.get(name)
        if got is None or not _same_release(want, got):
            out.append(f"{name}: image {want}, ran {got or 'absent'}")
    return out


def fill_what_ran(out: RuntimeInfo, endpoint_info: dict[str, Any] | None) -> RuntimeInfo:
    """Complete a runtime's report section with what served: the local runtime environment's
    versions (read from it) or, when a cluster pulled the image, the image's own; and each difference."""
    if endpoint_info is None:
        out.ran_source = "not deployed"
        return out
    measured = endpoint_info.get("runtime_versions")
    if measured:
        out.ran = {name: measured[name] for name in out.shipped if name in measured}
        out.ran_source = f"runtime environment {endpoint_info.get('runtime_env') or '?'} (versions read from it)"
    else:
        out.image = endpoint_info.get("runtime_image") or out.image
        out.ran = dict(out.shipped)
        out.ran_source = f"the image {out.image} on the cluster (versions from the image table, not read from the pod)"
    out.differences = differences(out.shipped, out.ran)
    return out
