#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Integration test of daemon/http.c and the async calls of daemon/maa.c:
# generates a throw-away CA, starts tests/integration/http-test-server.py on
# kernel-chosen loopback ports, waits for its port file (no fixed sleep) and
# runs tests/integration/http-check against it under a hard timeout.
# VALGRIND_TEST=1 runs the driver under valgrind --error-exitcode=1.
# Exit 0 pass, 1 fail, 77 skip.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-.}
check="$builddir/tests/integration/http-check"
server="$srcdir/tests/integration/http-test-server.py"

command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl not found"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "SKIP: /usr/bin/python3 not found"; exit 77; }
[ -x "$check" ] || { echo "FAIL: $check not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/attestd-http.XXXXXX") || exit 1
server_pid=""
cleanup() {
        [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkca() {        # mkca NAME: self-signed CA NAME.pem / NAME.key
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -subj "/CN=attestd test $1" -keyout "$tmp/$1.key" -out "$tmp/$1.pem" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
                >/dev/null 2>&1
}
mkca ca && mkca wrong-ca || { echo "FAIL: cannot create test CAs"; exit 1; }
# server certificate for DNS:localhost only (so https://127.0.0.1 mismatches)
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" >/dev/null 2>&1 &&
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tmp/ext.cnf" &&
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
        -CAcreateserial -days 2 -extfile "$tmp/ext.cnf" -out "$tmp/server.pem" >/dev/null 2>&1 ||
        { echo "FAIL: cannot create the server certificate"; exit 1; }

/usr/bin/python3 "$server" --cert "$tmp/server.pem" --key "$tmp/server.key" \
        --port-file "$tmp/ports" --lifetime 300 &
server_pid=$!
i=0
while [ ! -s "$tmp/ports" ]; do
        kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: test server died"; exit 1; }
        i=$((i + 1))
        [ $i -gt 200 ] && { echo "FAIL: test server not ready after 10 s"; exit 1; }
        sleep 0.05
done
read -r tls_port plain_port <"$tmp/ports"

runner=""
limit=120
if [ "${VALGRIND_TEST:-0}" = 1 ]; then
        runner="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no -q"
        limit=400
        export HTTP_CHECK_MAX_GAP_MS=${HTTP_CHECK_MAX_GAP_MS:-5000}
fi
# libtool wrapper scripts: run the real binary under valgrind
[ -n "$runner" ] && [ -x "$builddir/tests/integration/.libs/http-check" ] &&
        check="$builddir/tests/integration/.libs/http-check"
timeout -k 5 "$limit" $runner "$check" "$tls_port" "$plain_port" "$tmp/ca.pem" "$tmp/wrong-ca.pem"
rc=$?
[ $rc -eq 124 ] && echo "FAIL: hard timeout of $limit s"
[ $rc -eq 0 ] || exit 1
exit 0
