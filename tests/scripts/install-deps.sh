#!/bin/sh
# Install what attestd needs to build, test and run its simulated Azure CVM
# on Debian 12 (bookworm). Run as root. Safe to run again.
set -eu
packages="build-essential autoconf automake libtool pkg-config autoconf-archive
libtss2-dev libevent-dev libssl-dev libcurl4-openssl-dev libjansson-dev libsystemd-dev
libcmocka-dev swtpm swtpm-tools tpm2-tools python3 python3-cryptography
curl git clang libclang-rt-14-dev lcov valgrind nghttp2-client yamllint
python3-jsonschema python3-yaml systemd linux-perf"
missing=""
for p in $packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
        if [ "$(id -u)" != 0 ]; then
                echo "install-deps: missing packages:$missing (run as root)" >&2
                exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing
fi
