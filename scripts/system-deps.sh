#!/usr/bin/env bash
# Optional Debian packages: ripgrep (code search), universal-ctags (code benchmark), chromium (registry page test).
set -euo pipefail
need=()
command -v rg >/dev/null || need+=(ripgrep)
command -v ctags >/dev/null || need+=(universal-ctags)
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then echo "not root: install ${need[*]} yourself for the full test set" >&2; exit 0; fi
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
