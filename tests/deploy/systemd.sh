#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Offline checks of the systemd integration (no systemd as PID 1 needed):
#  - `systemd-analyze verify` of attestd.service + attestd.socket is clean;
#  - `systemd-analyze security --offline=true` exposure is <= 2.0 (printed);
#  - the sysusers.d snippet creates user attestd in group tss, and the
#    tmpfiles.d snippet creates /run/attestd, /var/lib/attestd and the default
#    config + policy with the intended owners and modes (in a scratch --root;
#    needs root for chown, skipped otherwise);
#  - the shipped config passes `attestd --check-config`.
# Exit 77 (skip) when systemd-analyze is missing.
set -eu

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
threshold=20    # systemd-analyze counts tenths: 20 == exposure 2.0

command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: systemd-analyze not installed"; exit 77; }
attestd="$builddir/daemon/attestd"
[ -x "$attestd" ] || { echo "FAIL: $attestd not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/attestd-systemd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail=0
ok()  { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

# Substitute the unit like `make` does, but point ExecStart at the built
# binary: verify insists that the executable exists.
subst() {
        sed -e "s|@sbindir@|$(dirname "$attestd")|g" -e "s|@bindir@|$builddir/client|g" \
            -e "s|@sysconfdir@|$tmp/root/etc|g" -e "s|@pkgdatadir@|$tmp/root/usr/share/attestd|g" "$1"
}
mkdir -p "$tmp/units"
subst "$srcdir/systemd/attestd.service.in" > "$tmp/units/attestd.service"
cp "$srcdir/systemd/attestd.socket" "$tmp/units/attestd.socket"

# verify: any message at all is a finding.
if out=$(cd "$tmp/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify \
                ./attestd.service ./attestd.socket 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify attestd.service attestd.socket"
else
        printf '%s\n' "$out"
        bad "systemd-analyze verify"
fi

# security: print the table (the log shows each exposure item) and the score.
if out=$(cd "$tmp/units" && systemd-analyze security --offline=true --no-pager \
                --threshold=$threshold ./attestd.service 2>&1); then
        rc=0
else
        rc=$?
fi
printf '%s\n' "$out" | grep -v '^✓' || true
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for attestd.service: \([0-9.]*\).*/\1/p')
echo "exposure score: ${score:-unknown} (limit 2.0)"
if [ "$rc" -eq 0 ] && [ -n "$score" ]; then
        ok "systemd-analyze security exposure $score <= 2.0"
else
        bad "systemd-analyze security exposure ${score:-?} > 2.0 (rc=$rc)"
fi

# The essentials STYLE.md §5 and systemd/README.md promise.
unit="$tmp/units/attestd.service"
for line in 'Type=notify' 'NotifyAccess=main' 'RestartPreventExitStatus=64 78' \
            'Restart=on-failure' 'Environment=TSS2_LOG=all+ERROR' 'DeviceAllow=/dev/tpmrm0 rw' \
            'DevicePolicy=closed' 'RuntimeDirectory=attestd' 'StateDirectory=attestd' \
            'User=attestd' 'SupplementaryGroups=tss' 'CapabilityBoundingSet=' \
            'NoNewPrivileges=yes' 'ProtectSystem=strict' \
            'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' \
            'ExecReload=/bin/kill -HUP $MAINPID' \
            'LoadCredential=eventlog:/sys/kernel/security/tpm0/binary_bios_measurements'; do
        grep -qxF "$line" "$unit" && ok "unit has $line" || bad "unit lacks '$line'"
done
grep -qE '^WatchdogSec=[1-9]' "$unit" && ok "unit has WatchdogSec" || bad "unit lacks WatchdogSec"
grep -qxF "ExecStartPre=$attestd --check-config" "$unit" \
        && ok "unit checks the config before starting" || bad "unit lacks ExecStartPre=attestd --check-config"

# The config the units ship with must be one the daemon accepts.
mkdir -p "$tmp/root/etc/attestd" "$tmp/root/usr/share/attestd"
subst "$srcdir/systemd/attestd-systemd.json.in" > "$tmp/root/usr/share/attestd/attestd-systemd.json"
cp "$srcdir/proto/policy-guest.json" "$tmp/root/usr/share/attestd/policy-guest.json"
if out=$("$attestd" --check-config --config "$tmp/root/usr/share/attestd/attestd-systemd.json" 2>&1); then
        ok "shipped attestd-systemd.json: $out"
else
        printf '%s\n' "$out"
        bad "shipped attestd-systemd.json fails --check-config"
fi
grep -q '"event_log": "/run/credentials/attestd.service/eventlog"' \
        "$tmp/root/usr/share/attestd/attestd-systemd.json" \
        && ok "config reads the event log from the LoadCredential= copy" \
        || bad "config does not read the event log from \$CREDENTIALS_DIRECTORY"

# sysusers + tmpfiles in a scratch root (chown needs root).
if [ "$(id -u)" -ne 0 ]; then
        echo "skip sysusers/tmpfiles --root checks (not root)"
elif ! command -v systemd-sysusers >/dev/null || ! command -v systemd-tmpfiles >/dev/null; then
        echo "skip sysusers/tmpfiles --root checks (tools missing)"
else
        root="$tmp/root"
        touch "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" "$root/etc/gshadow"
        systemd-sysusers --root="$root" "$srcdir/systemd/attestd.sysusers" 2>&1 \
                && ok "systemd-sysusers accepts attestd.sysusers" || bad "systemd-sysusers"
        grep -q '^attestd:' "$root/etc/passwd" && ok "user attestd created" || bad "no user attestd"
        grep -qE '^tss:[^:]*:[0-9]+:(.*,)?attestd(,.*)?$' "$root/etc/group" \
                && ok "attestd is a member of tss" || bad "attestd not in group tss"
        sed -e "s|@sysconfdir@|/etc|g" -e "s|@pkgdatadir@|/usr/share/attestd|g" \
                "$srcdir/systemd/attestd.tmpfiles.in" > "$tmp/attestd.conf"
        mkdir -p "$root/run" "$root/var/lib"
        systemd-tmpfiles --root="$root" --create "$tmp/attestd.conf" 2>&1 \
                && ok "systemd-tmpfiles accepts attestd.tmpfiles" || bad "systemd-tmpfiles"
        uid=$(awk -F: '$1 == "attestd" { print $3 }' "$root/etc/passwd")
        gid=$(awk -F: '$1 == "attestd" { print $3 }' "$root/etc/group")
        check_stat() {  # path expected-"mode uid gid"
                got=$(stat -c '%a %u %g' "$root$1" 2>/dev/null || echo missing)
                [ "$got" = "$2" ] && ok "$1 is $2" || bad "$1 is '$got', want '$2'"
        }
        check_stat /run/attestd "755 $uid $gid"
        check_stat /var/lib/attestd "750 $uid $gid"
        check_stat /etc/attestd "755 0 0"
        cmp -s "$root/etc/attestd/policy.json" "$srcdir/proto/policy-guest.json" \
                && ok "default policy copied to /etc/attestd/policy.json" || bad "policy.json not copied"
        [ -s "$root/etc/attestd/attestd.json" ] \
                && ok "default config copied to /etc/attestd/attestd.json" || bad "attestd.json not copied"
fi

exit $fail
