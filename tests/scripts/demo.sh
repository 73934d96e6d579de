#!/bin/sh
# The run command: install dependencies, build, and check the example
# configuration with the daemon.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
sh tests/scripts/install-deps.sh
./bootstrap >/dev/null
mkdir -p build/demo && cd build/demo
[ -f Makefile ] || "$top/configure" --quiet
make -j"$(nproc)" >/dev/null
work=$(mktemp -d /tmp/attestd-demo.XXXXXX)
cat > "$work/attestd.json" <<JSON
{
  "log": {"level": "info", "format": "text"},
  "api": {"socket": "$work/attestd.sock"},
  "policy": {"file": "$top/proto/policy-guest.json"},
  "audit": {"file": "$work/audit.jsonl"}
}
JSON
./daemon/attestd --check-config --config "$work/attestd.json"
