#!/usr/bin/env bash
# Debian packages the tests use: Chromium (the HTML report is checked in a real headless browser).
# Installs only what is missing, and only as root; otherwise says what to install and carries on
# (the browser test then skips with that reason).
set -u
missing=()
command -v chromium >/dev/null || missing+=(chromium)
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "note: ${missing[*]} missing; install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "installing ${missing[*]} (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
  echo "warning: could not install ${missing[*]}; the browser test will skip" >&2
exit 0
