"""The config.properties keys TorchServe 0.12 reads, what each value must look like, and its limits.

Flow: `torchserve.properties` in a scenario -> `property_syntax_problem(key, value)` (spec.py: a key
or value that would corrupt the rendered file: control characters, a trailing backslash, a key
Java's Properties would split) -> the lints: `KNOWN_KEYS` (misspellings, with a suggestion),
`INT_KEYS` / `BOOL_KEYS` (values TorchServe would fail to parse or read as false), and
`max_request_size(props)` (the body limit the request lints compare files with).

Where the keys come from: every `private static final String` config key of
frontend/server/src/main/java/org/pytorch/serve/util/ConfigManager.java at pytorch/serve v0.12.0,
plus the three the Python launcher reads from the file (ts/model_server.py: vmargs, plugins_path,
model_store). Which of them parse as ints or booleans is how ConfigManager reads each one
(getIntProperty / Integer.parseInt / Long.parseLong / Boolean.parseBoolean).
"""
from __future__ import annotations

import json
import math
import re
import unicodedata

# ConfigManager.getMaxRequestSize(): getIntProperty(TS_MAX_REQUEST_SIZE, 6553500), in bytes; a
# larger body is refused by Netty's aggregator before any handler sees it.
DEFAULT_MAX_REQUEST_SIZE = 6553500

INT_KEYS = frozenset({
    "number_of_netty_threads", "netty_client_threads", "job_queue_size", "number_of_gpu",
    "default_workers_per_model", "default_response_timeout", "default_startup_timeout",
    "unregister_model_timeout", "metric_time_interval", "io_ratio", "max_request_size", "max_response_size",
    "initial_worker_port", "initial_distribution_port", "grpc_inference_port", "grpc_management_port",
    "grpc_inference_max_connection_age_ms", "grpc_management_max_connection_age_ms",
    "grpc_inference_max_connection_age_grace_ms", "grpc_management_max_connection_age_grace_ms",
})

BOOL_KEYS = frozenset({
    "debug", "async_logging", "enable_envvars_config", "ts_open_inference_protocol", "enable_grpc_ssl",
    "prefer_direct_buffer", "install_py_dep_per_model", "enable_metrics_api", "cpu_launcher_enable",
    "ipex_enable", "ipex_gpu_enable", "disable_token_authorization", "enable_model_api",
    "model_metrics_auto_detect", "disable_system_metrics", "use_native_io", "limit_max_image_pixels",
    "decode_input_request", "use_env_allowed_urls",
})

# Keys whose value is JSON (a mapping is rendered as compact JSON).
JSON_KEYS = frozenset({"model_snapshot", "models"})

KNOWN_KEYS = INT_KEYS | BOOL_KEYS | JSON_KEYS | frozenset({
    "inference_address", "management_address", "metrics_address", "grpc_inference_address",
    "grpc_management_address", "load_models", "blacklist_env_vars", "metrics_config", "metrics_mode",
    "cpu_launcher_args", "cors_allowed_origin", "cors_allowed_methods", "cors_allowed_headers", "keystore",
    "keystore_pass", "keystore_type", "certificate_file", "private_key_file", "default_service_handler",
    "service_envelope", "model_server_home", "model_store", "allowed_urls", "workflow_store",
    "cpp_log_config", "token_expiration_min", "ts_header_key_sequence_id", "ts_header_key_sequence_start",
    "ts_header_key_sequence_end", "version", "system_metrics_cmd", "python",
    # read by the Python launcher (ts/model_server.py), not by ConfigManager
    "vmargs", "plugins_path",
})

# What Java's Properties.load would read as a key: it ends at '=', ':' or whitespace.
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_INT = re.compile(r"^[+-]?\d+$")


def _line_breaking(ch: str) -> bool:
    # Control characters (\n, \r, NUL, ...) and the Unicode line/paragraph separators, which
    # Python's splitlines() (the harness reads the file back with it) also breaks lines at.
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def rendered(value: object) -> str:
    """The text a scalar value becomes in config.properties (as harness.runtimes.torchserve.archive renders it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_key(key: object) -> bool:
    """Whether `key` can be written as a config.properties key."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def property_syntax_problem(key: object, value: object) -> str | None:
    """Why `key=value` cannot be written into config.properties as one line; None when it can.

    A problem with the value starts with the key's name."""
    if not is_key(key):
        return (f"key {key!r} is not a config.properties key (letters, digits, '_', '.', '-'; "
                "Java would cut it at '=', ':' or a space)")
    if value is None:
        return f"{key} has no value (give one, or drop the key)"
    if key == "model_snapshot" and isinstance(value, str):
        return None  # parsed and rendered again as compact JSON (harness.runtimes.torchserve.archive); the lints check it
    if isinstance(value, (dict, list)):
        if key in JSON_KEYS:
            try:  # rendered as compact JSON, which escapes every control character
                json.dumps(value)
            except (TypeError, ValueError) as exc:  # a date, a recursive alias
                return f"{key} cannot be written as JSON: {exc}"
            return None
        return f"{key} takes a string, number or boolean, not a {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key} is {value}: give a finite number"
    text = rendered(value)
    bad = next((ch for ch in text if _line_breaking(ch)), None)
    if bad is not None:
        return (f"{key} holds the control character {bad!r}: it would end the line and inject what follows "
                "as more config.properties lines")
    trailing = len(text) - len(text.rstrip("\\"))
    if trailing % 2:
        return (f"{key} ends in a backslash: Java's Properties would join the next line (the next key) "
                "to this value")
    return None


def value_problem(key: str, value: object) -> str | None:
    """Why TorchServe would misread this value of a known key; None when it reads it as meant."""
    if key in JSON_KEYS or isinstance(value, (dict, list)):
        return None
    text = rendered(value).strip()
    bits = 63 if key.endswith("_ms") else 31  # Long.parseLong for the gRPC ages, else Integer.parseInt
    if key in INT_KEYS and not (_INT.match(text) and -2 ** bits <= int(text) < 2 ** bits):
        return f"{key} must be a whole number (Java {'long' if bits == 63 else 'int'}), not {text!r}: " \
               "TorchServe would fail to start parsing it"
    if key in BOOL_KEYS and text.lower() not in ("true", "false"):
        return (f"{key} must be true or false, not {text!r}: TorchServe reads anything but 'true' as false "
                "(Boolean.parseBoolean)")
    return None


def max_request_size(props: dict[str, object]) -> int:
    """The request body limit TorchServe applies with these properties, in bytes."""
    value = props.get("max_request_size")
    text = rendered(value).strip() if value is not None else ""
    return int(text) if _INT.match(text) else DEFAULT_MAX_REQUEST_SIZE
