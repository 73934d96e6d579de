#!/bin/sh
# The run command: install dependencies, build, start the simulated Azure
# CVM (swtpm provisioned like an Azure vTPM + MAA/IMDS emulator), check the
# daemon configuration the sim writes, run attestd serving the verdict on its
# unix socket (trusted), tamper with the node (untrusted, with the reasons),
# and show its evidence.
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
# The daemon, serving the verdict on its unix socket.
sock="$dir/attestd.sock"
pkill -f "attestd --config $dir/attestd.json" 2>/dev/null || true
./daemon/attestd --config "$dir/attestd.json" --log-level warning >"$dir/attestd.log" 2>&1 &
echo "attestd is running (pid $!, log $dir/attestd.log); attestctl wait gates on its verdict:"
./client/attestctl wait --socket "$sock" --timeout 30s
echo
echo "curl --unix-socket $sock http://localhost/v1/verdict"
curl -s --unix-socket "$sock" http://localhost/v1/verdict | python3 -m json.tool
echo
echo "The same node after 'cvm-sim tamper secure-boot-off' and a refresh:"
"$top/tests/sim/cvm-sim" tamper --dir "$dir" secure-boot-off >/dev/null
curl -s --unix-socket "$sock" -X POST http://localhost/v1/refresh >/dev/null
for _ in $(seq 50); do
        rc=0
        ./client/attestctl verdict --socket "$sock" >/dev/null 2>&1 || rc=$?
        [ "$rc" = 1 ] && break
        sleep 0.2
done
./client/attestctl verdict --socket "$sock" || echo "(attestctl verdict exit status $?: untrusted)"
"$top/tests/sim/cvm-sim" tamper --dir "$dir" restore >/dev/null
curl -s --unix-socket "$sock" -X POST http://localhost/v1/refresh >/dev/null
echo
echo "One-shot mode (what every pod does today, for comparison): attestd --once"
./daemon/attestd --once --config "$dir/attestd.json" --log-level warning >/dev/null && echo "trusted"
echo
echo "HCL report in the simulated vTPM (NV 0x01400001):"
./client/attestctl inspect hcl "$dir/hcl-report.bin"
echo
echo "attestd and the simulated CVM keep running in $dir; stop them with:"
echo "  pkill -f 'attestd --config $dir/attestd.json'; $top/tests/sim/cvm-sim stop --dir $dir"
