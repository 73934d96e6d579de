#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The local API contract in proto/: every schema is a valid JSON Schema whose
# references resolve; every example validates against its schema (examples
# are named SCHEMA.json or SCHEMA.VARIANT.json) and every schema has one;
# every negative sample in tests/proto/bad/ is rejected; the shipped
# policies and the systemd config validate; the OpenAPI document parses and
# its references resolve. When the binaries are built, the real parsers must
# agree with the schemas (attestd --check-config, attestctl policy eval) and
# their output must validate (attestctl policy eval --json, audit verify);
# when swtpm is there too, so must what the simulated CVM writes and what
# `attestd --once` prints against it.
# Exit 0 pass, 1 fail, 77 skip (no python3 jsonschema).
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
PYTHON=${PYTHON:-python3}
schemas="$srcdir/proto/schema"
examples="$srcdir/proto/examples"
bad="$srcdir/tests/proto/bad"
attestd="$builddir/daemon/attestd"
attestctl="$builddir/client/attestctl"
claims="$srcdir/tests/data/claims-azureguest-aks-2022.json"

if ! "$PYTHON" -c 'import jsonschema' 2>/dev/null; then
        echo "SKIP: $PYTHON has no jsonschema module (apt-get install python3-jsonschema)"
        exit 77
fi
tmp=$(mktemp -d /tmp/attestd-schemas.XXXXXX)
sim_dir=
cleanup() {
        [ -n "$sim_dir" ] && "$srcdir/tests/sim/cvm-sim" stop --dir "$sim_dir" >/dev/null 2>&1
        rm -rf "$tmp"
}
trap cleanup EXIT
fails=0

fail() {
        echo "FAIL $*"
        fails=$((fails + 1))
}

# validate [--expect-invalid] SCHEMA FILE...: the validator's lines, counted
validate() {
        if ! "$PYTHON" "$srcdir/tests/scripts/validate-json.py" --schema-dir "$schemas" "$@" >"$tmp/v.out" 2>&1; then
                fails=$((fails + 1))
        fi
        cat "$tmp/v.out"
}

# expect STATUS DESCRIPTION -- COMMAND...
expect() {
        want=$1 what=$2
        shift 3
        "$@" >"$tmp/out" 2>"$tmp/err"
        got=$?
        if [ "$got" -ne "$want" ]; then
                fail "$what: exit $got, expected $want"
                cat "$tmp/out" "$tmp/err"
        else
                echo "ok   $what"
        fi
}

# stem FILE: the schema an example or sample is for ("verdict.trusted.json" -> "verdict")
stem() {
        b=${1##*/}
        echo "${b%%.*}"
}

# ---- the schemas themselves --------------------------------------------
validate --check-schema "$schemas"/*.schema.json

# ---- examples: one per schema at least, each valid ---------------------
for s in "$schemas"/*.schema.json; do
        name=${s##*/}
        name=${name%.schema.json}
        [ "$name" = defs ] && continue  # shared definitions, not a document
        set -- "$examples/$name".json "$examples/$name".*.json
        files=
        for f in "$@"; do
                [ -f "$f" ] && files="$files $f"
        done
        if [ -z "$files" ]; then
                fail "schema $name has no example in proto/examples"
                continue
        fi
        # shellcheck disable=SC2086 # example paths have no spaces
        validate "$name" $files
done
for f in "$examples"/*.json "$bad"/*.json; do
        [ -f "$schemas/$(stem "$f").schema.json" ] || fail "$f: no schema '$(stem "$f")' for it"
done
# what is not listed in doc/Makefile-doc.am is neither installed nor distributed
for f in "$srcdir"/proto/openapi.yaml "$schemas"/*.json "$examples"/*.json; do
        rel=${f#"$srcdir"/}
        grep -q "^	$rel\( \\\\\)\{0,1\}\$" "$srcdir/doc/Makefile-doc.am" ||
                fail "$rel is not listed in doc/Makefile-doc.am"
done

# ---- negative samples -----------------------------------------------------
for s in $(for f in "$bad"/*.json; do stem "$f"; done | sort -u); do
        validate --expect-invalid "$s" "$bad/$s".*.json
done

# ---- shipped documents ----------------------------------------------------
validate policy "$srcdir"/proto/policy-*.json "$srcdir/helm/attestd/files/policy-guest.json"
sed -e 's|@sysconfdir[@]|/etc|g' "$srcdir/systemd/attestd-systemd.json.in" >"$tmp/attestd-systemd.json"
validate config "$tmp/attestd-systemd.json"

# ---- OpenAPI: parses, is 3.1, every reference resolves -------------------
if "$PYTHON" -c 'import yaml' 2>/dev/null; then
        if "$PYTHON" - "$srcdir/proto/openapi.yaml" >"$tmp/oa.out" 2>&1 <<'EOF'
import json, os, sys, yaml
path = sys.argv[1]
base = os.path.dirname(path)
doc = yaml.safe_load(open(path, encoding="utf-8"))
bad = []
if not str(doc.get("openapi", "")).startswith("3.1."):
    bad.append("openapi is %r, not 3.1.x" % doc.get("openapi"))
def walk(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v, where
            else:
                yield from walk(v, where + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, "%s/%d" % (where, i))
def lookup(target, fragment):
    for part in [p for p in fragment.lstrip("/").split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        target = target[int(part)] if isinstance(target, list) else target[part]
    return target
n = 0
for ref, where in walk(doc, ""):
    n += 1
    file, _, fragment = ref.partition("#")
    try:
        target = doc if not file else json.load(open(os.path.join(base, file), encoding="utf-8"))
        lookup(target, fragment)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        bad.append("%s: $ref %s does not resolve (%s)" % (where, ref, e))
for p, ops in doc.get("paths", {}).items():
    for method, op in ops.items():
        if method in ("get", "post", "head") and not op.get("responses"):
            bad.append("%s %s has no responses" % (method.upper(), p))
try:
    from openapi_spec_validator import validate as oas_validate
except ImportError:
    oas_validate = None
if oas_validate and not bad:
    try:
        oas_validate(doc, base_uri="file://" + os.path.abspath(path))
    except Exception as e:
        bad.append("openapi-spec-validator: %s" % str(e).splitlines()[0])
for b in bad:
    print("  " + b)
print("%d references checked%s" % (n, ", openapi-spec-validator too" if oas_validate else ""))
sys.exit(1 if bad else 0)
EOF
        then
                echo "ok   proto/openapi.yaml: $(tail -n 1 "$tmp/oa.out")"
        else
                fail "proto/openapi.yaml"
                cat "$tmp/oa.out"
        fi
else
        echo "skip proto/openapi.yaml: $PYTHON has no yaml module"
fi

# ---- the real parsers agree with the schemas ------------------------------
if [ -x "$attestd" ] && [ -x "$attestctl" ]; then
        # the full example config, with its policy pointed at a file that exists
        "$PYTHON" - "$examples/config.json" "$srcdir/proto/policy-guest.json" "$tmp/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["policy"]["file"] = sys.argv[2]
json.dump(c, open(sys.argv[3], "w"), indent=2)
EOF
        expect 0 "attestd --check-config accepts proto/examples/config.json" -- \
                "$attestd" --check-config --config "$tmp/config.json"
        expect 0 "attestd --check-config accepts systemd/attestd-systemd.json" -- \
                "$attestd" --check-config --config "$tmp/attestd-systemd.json"
        for f in "$bad"/config.*.json; do
                expect 78 "attestd --check-config rejects ${f##*/}" -- "$attestd" --check-config --config "$f"
        done
        for f in "$examples"/policy.json "$srcdir"/proto/policy-*.json; do
                "$attestctl" policy eval --policy "$f" --claims "$claims" >"$tmp/out" 2>"$tmp/err"
                rc=$?
                if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
                        echo "ok   attestctl policy eval accepts ${f##*/}"
                else
                        fail "attestctl policy eval ${f##*/}: exit $rc"
                        cat "$tmp/out" "$tmp/err"
                fi
        done
        for f in "$bad"/policy.*.json; do
                expect 65 "attestctl policy eval rejects ${f##*/}" -- \
                        "$attestctl" policy eval --policy "$f" --claims "$claims"
        done
        # verdict documents the real code prints: trusted, and untrusted with a
        # failed and a missing claim
        "$attestctl" policy eval --json --policy "$srcdir/proto/policy-guest.json" --claims "$claims" \
                >"$tmp/verdict-trusted.json" 2>"$tmp/err"
        "$PYTHON" - "$claims" "$tmp/claims-bad.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["secureboot"] = False
del c["x-ms-azurevm-debuggersdisabled"]
json.dump(c, open(sys.argv[2], "w"))
EOF
        "$attestctl" policy eval --json --policy "$srcdir/proto/policy-guest.json" \
                --claims "$tmp/claims-bad.json" >"$tmp/verdict-untrusted.json" 2>"$tmp/err"
        validate verdict "$tmp/verdict-trusted.json" "$tmp/verdict-untrusted.json"
        grep -q '"verdict": "untrusted"' "$tmp/verdict-untrusted.json" ||
                fail "attestctl policy eval --json: the tampered claims are not untrusted"
        # the audit examples are one valid chain, in seq order
        cat "$examples/audit-record.startup.json" "$examples/audit-record.json" \
                "$examples/audit-record.token-issued.json" >"$tmp/audit.jsonl"
        expect 0 "attestctl audit verify: the audit-record examples chain" -- \
                "$attestctl" audit verify "$tmp/audit.jsonl"
else
        echo "skip parser cross-checks: $attestd or $attestctl not built"
fi

# ---- what the simulated CVM writes, and a real verdict against it --------
sim_ok=yes
for t in swtpm tpm2_pcrextend; do
        command -v $t >/dev/null 2>&1 || sim_ok="no $t"
done
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || sim_ok="no python3-cryptography"
[ -x "$attestd" ] || sim_ok="attestd not built"
if [ "$sim_ok" = yes ]; then
        sim_dir="$tmp/sim"
        if timeout 90 "$srcdir/tests/sim/cvm-sim" start --dir "$sim_dir" >"$tmp/sim.out" 2>&1; then
                validate config "$sim_dir/attestd.json"
                validate policy "$sim_dir/policy.json"
                timeout 60 "$attestd" --once --config "$sim_dir/attestd.json" --log-level error \
                        >"$tmp/once.json" 2>"$tmp/once.err"
                rc=$?
                if [ "$rc" -eq 0 ]; then
                        validate verdict "$tmp/once.json"
                else
                        fail "attestd --once against the simulator: exit $rc"
                        cat "$tmp/once.json" "$tmp/once.err"
                fi
        else
                fail "cannot start the simulated CVM"
                cat "$tmp/sim.out"
        fi
else
        echo "skip simulated CVM: $sim_ok"
fi

if [ "$fails" -gt 0 ]; then
        echo "$fails check(s) failed"
        exit 1
fi
echo "all checks passed"
exit 0
