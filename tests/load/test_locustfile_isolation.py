"""Locust monkey-patches its interpreter: the locustfile must import nothing from the harness, and
the harness's runner must never import Locust."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from harness.load.runner import LOCUSTFILE
from harness.procs import run

ALLOWED = {"json", "math", "os", "time", "urllib", "gevent", "geventhttpclient", "locust", "__future__"}


def test_locustfile_imports_only_stdlib_gevent_and_locust():
    tree = ast.parse(Path(LOCUSTFILE).read_text())
    mods = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    mods |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert mods <= ALLOWED, mods - ALLOWED


def test_running_a_load_does_not_import_locust_here():
    code = ("import sys, harness.load.runner, harness.load.figures, harness.load.server_metrics, harness.spec; "
            "print(any(m == 'locust' or m.startswith('locust.') or m == 'gevent' for m in sys.modules))")
    out = run([sys.executable, "-c", code], what="import the harness's load modules", timeout=60).stdout.strip()
    assert out == "False"
