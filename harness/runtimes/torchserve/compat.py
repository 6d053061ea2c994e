"""What an image's TorchServe and torch accept: config keys by release, model-file records by torch.

Flow: `property_since(key)` / `arg_since(flag)` -> the first TorchServe release that reads a
config.properties key or accepts a command-line flag (None: every image does) -> the lints compare
it with the image's TorchServe;
`newer_torch_record(path)` -> the record in a torch.save / TorchScript zip that the newest torch
release not writing it names (the file was written by a newer torch) -> the lints compare that
release with the image's torch. Both are tables of facts, each with where it came from.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

# config.properties keys TorchServe reads only from a release on: the `private static final String`
# keys of frontend/server/src/main/java/org/pytorch/serve/util/ConfigManager.java in pytorch/serve,
# diffed tag by tag from v0.9.0 to v0.12.0 (no key was removed or renamed in between).
PROPERTY_SINCE: dict[str, str] = {
    "cpp_log_config": "0.10.0", "model_metrics_auto_detect": "0.10.0", "system_metrics_cmd": "0.10.0",
    "token_expiration_min": "0.10.0", "ts_open_inference_protocol": "0.10.0",
    "grpc_inference_address": "0.11.0", "grpc_management_address": "0.11.0",
    "ts_header_key_sequence_id": "0.11.0", "ts_header_key_sequence_start": "0.11.0",
    "ts_header_key_sequence_end": "0.11.0",
    # 0.11.1 turned token authorization on by default (docs/token_authorization_api.md) and the
    # model API off, with these two keys to change that.
    "disable_token_authorization": "0.11.1", "enable_model_api": "0.11.1", "ipex_gpu_enable": "0.11.1",
    "default_startup_timeout": "0.12.0",
}

# `torchserve` command-line flags from a release on (ts/arg_parser.py at each tag): an older
# TorchServe's argparse rejects them and the container exits (kubernetes.args are appended to
# the runtime's `torchserve --start ...`).
ARG_SINCE: dict[str, str] = {"--cpp-log-config": "0.10.0", "--async": "0.11.1", "--disable-token-auth": "0.11.1",
                             "--dt": "0.11.1", "--enable-model-api": "0.11.1"}

# Records a torch.save or torch.jit.save zip holds that older torch releases do not write, each with
# the newest release measured NOT to write it: files saved from this machine's torch 2.1.0 and
# 2.4.0 (the 0.9.0 and 0.12.0 runtime environments) lack them; torch 2.13.0 and 2.14.1 write both
# into every torch.save archive. A file that has one was written by a torch newer than that release.
# TorchScript archives name no producer: `version` (or `.data/version`) is the file-format version,
# 3..10 from torch 1.x to today, so within 2.x nothing tells a 2.13 TorchScript from a 2.4 one.
RECORD_ABSENT_UP_TO: dict[str, str] = {".format_version": "2.4.0", ".storage_alignment": "2.4.0"}


def release(version: str) -> tuple[int, ...]:
    """'2.4.0+cu121' -> (2, 4, 0): the numeric release, for ordering."""
    out = []
    for part in version.split("+")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def property_since(key: str) -> str | None:
    """The first TorchServe release that reads config key `key`; None when every image reads it."""
    return PROPERTY_SINCE.get(key)


def arg_since(arg: str) -> str | None:
    """The first TorchServe release that accepts command-line flag `arg` ("--x=1" counts as "--x")."""
    return ARG_SINCE.get(arg.split("=", 1)[0])


def newer_torch_record(path: Path) -> tuple[str, str] | None:
    """(record, newest torch not writing it) for the record in `path` that proves the newest
    producer; None when `path` is no torch zip or holds none of them."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    # Members sit under one top folder named after the file ("model/.format_version").
    records = {name.split("/", 1)[1] for name in names if "/" in name}
    found = [(rec, upto) for rec, upto in RECORD_ABSENT_UP_TO.items() if rec in records]
    return max(found, key=lambda item: release(item[1])) if found else None
