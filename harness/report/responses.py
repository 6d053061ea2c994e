"""The correctness fingerprint of a run: every check's response body, kept whole and hashed.

Flow: the runner calls `save_response(run_dir, check_name, text)` for each check; the body lands in
`responses/<check>.json` and its hash (of a canonical form) in CheckResult.response_sha256. Compare
(harness/report/compare.py) says "same outputs" on equal hashes and otherwise compares the two
bodies value by value within the check's tolerance (`outputs_diff`).

Volatile fields are left out of the hash and the comparison: the V2 response `id` is a fresh
request id on every call (TorchServe's kservev2 envelope), so it would make every run "different".
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

VOLATILE_KEYS = ("id",)  # top-level keys that differ on every call by design
RESPONSES_DIR = "responses"


def _stable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in VOLATILE_KEYS}
    return body


def parse_body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def body_sha256(text: str) -> str:
    """sha256 of the body's canonical JSON (sorted keys, volatile keys left out), or of the raw text."""
    body = parse_body(text)
    canon = text if isinstance(body, str) else json.dumps(_stable(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def response_filename(check_name: str) -> str:
    return f"{RESPONSES_DIR}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', check_name)}.json"


def save_response(run_dir: Path, check_name: str, text: str) -> tuple[str, str]:
    """Write the body under run_dir/responses/; return (relative path, sha256)."""
    rel = response_filename(check_name)
    path = run_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return rel, body_sha256(text)


def outputs_diff(baseline_text: str, current_text: str, *, atol: float, rtol: float = 0.0) -> list[str]:
    """Differences between two response bodies: floats within atol/rtol, everything else exactly,
    both ways (a key or item only in one of them is a difference)."""
    from harness.predict import compare

    base, cur = _stable(parse_body(baseline_text)), _stable(parse_body(current_text))
    diffs = compare(base, cur, atol=atol, rtol=rtol)
    if isinstance(base, dict) and isinstance(cur, dict):
        diffs += [f"$.{k}: only in the current response" for k in cur if k not in base]
    return diffs
