#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Lint container/Containerfile without building it (no Docker/Podman here):
#  - the stages the chart and docs name (attestd, attestctl) exist, and the
#    attestctl stage is FROM scratch;
#  - every COPY from the build context names a file that exists;
#  - every runtime package exists in the apt lists of this (bookworm) host;
#  - every shared library the built daemon links directly (DT_NEEDED) is
#    shipped by a package installed in the runtime stage.
set -eu
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
cf="$srcdir/container/Containerfile"
fail=0
ok()  { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

[ -f "$cf" ] || { echo "FAIL: $cf missing"; exit 1; }

for stage in build attestd attestctl; do
        grep -qE "^FROM [^ ]+ AS $stage\$" "$cf" && ok "stage $stage" || bad "no stage '$stage'"
done
grep -qx 'FROM scratch AS attestctl' "$cf" && ok "attestctl stage is FROM scratch" || bad "attestctl stage not FROM scratch"
grep -q 'USER 65532:65532' "$cf" && ok "images run as uid 65532" || bad "no USER 65532"

# COPY <src>... <dst> from the context (not --from=): sources must exist.
grep -E '^COPY ' "$cf" | grep -v -- '--from=' | while read -r _ rest; do
        set -- $rest
        while [ $# -gt 1 ]; do
                [ -e "$srcdir/$1" ] && echo "ok   COPY source $1 exists" || echo "FAIL COPY source $1 missing"
                shift
        done
done | tee "${TMPDIR:-/tmp}/attestd-container.$$"
grep -q '^FAIL' "${TMPDIR:-/tmp}/attestd-container.$$" && fail=1
rm -f "${TMPDIR:-/tmp}/attestd-container.$$"

# Runtime packages: the apt-get install of the attestd stage.
pkgs=$(sed -n '/^FROM .* AS attestd$/,/^FROM /p' "$cf" \
        | sed -n '/apt-get install/,/rm -rf/p' \
        | tr ' \\&' '\n\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' \
        | grep -vxE 'apt-get|install|rm|rf|DEBIAN_FRONTEND=noninteractive' || true)
[ -n "$pkgs" ] && ok "runtime packages: $(echo $pkgs)" || bad "no runtime packages found"
if command -v apt-cache >/dev/null 2>&1; then
        for p in $pkgs; do
                if apt-cache show "$p" >/dev/null 2>&1; then ok "package $p exists"
                else bad "package $p unknown to apt-cache"; fi
        done
else
        echo "skip package existence (no apt-cache)"
fi

# Libraries: each DT_NEEDED of the built daemon must come from a runtime package.
attestd="$builddir/daemon/attestd"
if [ -x "$attestd" ] && command -v readelf >/dev/null && command -v dpkg >/dev/null; then
        for lib in $(readelf -d "$attestd" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
                # sanitizer runtimes come from the test build (--with-sanitizer), never the image
                case $lib in libc.so.*|libm.so.*|ld-linux*|libasan.so.*|libubsan.so.*|liblsan.so.*|libtsan.so.*) continue ;; esac
                path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
                # merged /usr: dpkg may know the file under /usr/lib only
                pkg=$( (dpkg -S "$path" || dpkg -S "/usr$path") 2>/dev/null | head -n1 | cut -d: -f1)
                if [ -n "$pkg" ] && echo "$pkgs" | grep -qx "$pkg"; then
                        ok "$lib comes from $pkg"
                else
                        bad "$lib (${pkg:-no package}) is not installed in the runtime stage"
                fi
        done
else
        echo "skip library check (daemon not built, or readelf/dpkg missing)"
fi

# The static client target the attestctl stage builds.
if grep -q 'attestctl-static' "$srcdir/Makefile.am"; then
        ok "make attestctl-static exists"
else
        echo "note make attestctl-static is not in Makefile.am yet: the attestctl stage needs it"
fi
exit $fail
