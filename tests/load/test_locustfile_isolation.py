"""Locust monkey-patches its interpreter: the locustfile must import nothing from the harness, and
the harness's runner must never import Locust."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from harness.load.runner import LOCUSTFILE
from harness.procs import run

ALLOWED = {"json", "math", "os", "time", "urllib", "gevent", "geventhttpclient", "locust", "__future__"}
GRPC_ONLY = {"grpc", "tritonclient"}  # grpc-v2 runs only, imported after locust (tests/load/test_grpc_load.py)


def _imports(nodes) -> set[str]:
    mods = {n.module.split(".")[0] for n in nodes if isinstance(n, ast.ImportFrom)}
    return mods | {a.name.split(".")[0] for n in nodes if isinstance(n, ast.Import) for a in n.names}


def test_locustfile_imports_only_stdlib_gevent_and_locust():
    tree = ast.parse(Path(LOCUSTFILE).read_text())
    top = _imports(tree.body)
    assert top <= ALLOWED, top - ALLOWED
    mods = _imports(ast.walk(tree))
    assert mods <= ALLOWED | GRPC_ONLY, mods - ALLOWED - GRPC_ONLY


def test_grpc_is_imported_after_locust_and_made_gevent_cooperative_first():
    """gevent monkey-patches on locust's import; grpc must come later and init_gevent() before any channel."""
    source = Path(LOCUSTFILE).read_text()
    tree = ast.parse(source)
    lines = {name: min(n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                       and name in _imports([n])) for name in ("locust", "grpc", "tritonclient")}
    init = source.index("grpc_gevent.init_gevent()")
    assert lines["locust"] < lines["grpc"] < lines["tritonclient"]
    assert source.count("\n", 0, init) + 1 < min(n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
                                                   and getattr(n.func, "attr", "") == "insecure_channel")


def test_running_a_load_does_not_import_locust_here():
    code = ("import sys, harness.load.runner, harness.load.figures, harness.load.server_metrics, harness.spec; "
            "print(any(m == 'locust' or m.startswith('locust.') or m == 'gevent' for m in sys.modules))")
    out = run([sys.executable, "-c", code], what="import the harness's load modules", timeout=60).stdout.strip()
    assert out == "False"
