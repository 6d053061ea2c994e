#!/usr/bin/env bash
# What the harness needs from the machine before pip can help: Python 3.10-3.12 and Java 11+ (TorchServe).
set -u
py=${PYTHON:-python3}
"$py" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null ||
  { echo "error: $py must be Python 3.10-3.12 (torch 2.13.0 wheels) — install one or set PYTHON=" >&2; exit 2; }
command -v java >/dev/null ||
  { echo "error: java not found; TorchServe's frontend needs Java 11+ — apt-get install -y openjdk-17-jre-headless" >&2; exit 2; }
exit 0
