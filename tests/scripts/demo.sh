#!/bin/sh
# The run command: install dependencies, build, start the simulated Azure
# CVM (swtpm provisioned like an Azure vTPM + MAA/IMDS emulator), check the
# daemon configuration the sim writes, attest the node (trusted), tamper
# with it (untrusted, with the reason), and show its evidence.
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
echo "attestd --once: TPM evidence -> MAA (emulator) -> sealed token opened in the TPM -> JWT verified -> policy:"
./daemon/attestd --once --config "$dir/attestd.json" || true
echo
echo "The same node after 'cvm-sim tamper secure-boot-off':"
"$top/tests/sim/cvm-sim" tamper --dir "$dir" secure-boot-off >/dev/null
./daemon/attestd --once --config "$dir/attestd.json" --log-level warning || true
"$top/tests/sim/cvm-sim" tamper --dir "$dir" restore >/dev/null
echo
echo "HCL report in the simulated vTPM (NV 0x01400001):"
./client/attestctl inspect hcl "$dir/hcl-report.bin"
echo
echo "The simulated CVM keeps running in $dir; stop it with:"
echo "  $top/tests/sim/cvm-sim stop --dir $dir"
