#!/bin/sh
# The run command: install dependencies, build, start the simulated Azure
# CVM (swtpm provisioned like an Azure vTPM + MAA/IMDS emulator), check the
# daemon configuration the sim writes, and show the node's evidence.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
sh tests/scripts/install-deps.sh
./bootstrap >/dev/null
mkdir -p build/demo && cd build/demo
[ -f Makefile ] || "$top/configure" --quiet
make -j"$(nproc)" >/dev/null
dir=${ATTESTD_DEMO_DIR:-/tmp/attestd-demo}
"$top/tests/sim/cvm-sim" stop --dir "$dir" >/dev/null 2>&1 || true
"$top/tests/sim/cvm-sim" start --dir "$dir"
"$top/tests/sim/cvm-sim" status --dir "$dir"
echo
./daemon/attestd --check-config --config "$dir/attestd.json"
echo
echo "HCL report in the simulated vTPM (NV 0x01400001):"
./client/attestctl inspect hcl "$dir/hcl-report.bin"
echo
echo "The simulated CVM keeps running in $dir; stop it with:"
echo "  $top/tests/sim/cvm-sim stop --dir $dir"
