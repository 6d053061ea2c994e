"""The correctness fingerprint of a run: every check's response body, kept whole and hashed.

Flow: harness.checks calls `save_response(run_dir, check_name, text)` for each check; the body lands
in `responses/<check>.json` and its hash (harness.outputs.body_sha256) in CheckResult.response_sha256.
Compare says "same outputs" on equal hashes and otherwise compares the two bodies value by value
within the check's tolerance (harness.outputs.outputs_diff).
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.outputs import body_sha256

RESPONSES_DIR = "responses"


def response_filename(check_name: str) -> str:
    return f"{RESPONSES_DIR}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', check_name)}.json"


def save_response(run_dir: Path, check_name: str, text: str) -> tuple[str, str]:
    """Write the body under run_dir/responses/; return (relative path, sha256)."""
    rel = response_filename(check_name)
    path = run_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return rel, body_sha256(text)
