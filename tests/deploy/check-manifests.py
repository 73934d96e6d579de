#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Assertions on rendered attestd manifests (tests/deploy/helm.sh).

usage: check-manifests.py chart VARIANT FILE [key=value ...]
       check-manifests.py workload FILE...

chart: FILE is `helm template` output for one values variant; the key=value
pairs are what the test expects of it: privileged=yes|no, access=...,
metrics=yes|no, servicemonitor=yes|no, nodeselector=K=V, groupid=N,
tokenuid=N, configout=PATH (write attestd.json there for --check-config).
workload: example manifests that mount the attestd socket.
Prints one line per check; exits 1 on any failure.
"""
import json
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml (PyYAML) is not installed")
    sys.exit(77)

failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_spec(doc):
    kind = doc.get("kind")
    if kind in ("DaemonSet", "Deployment", "StatefulSet", "Job", "ReplicaSet"):
        return doc["spec"]["template"]["spec"]
    if kind == "Pod":
        return doc["spec"]
    return None


def containers(spec):
    for c in spec.get("initContainers", []) or []:
        yield "init", c
    for c in spec.get("containers", []) or []:
        yield "main", c


def hostpath_volumes(spec):
    return {v["name"]: v["hostPath"] for v in spec.get("volumes", []) or [] if "hostPath" in v}


def check_container_baseline(name, c, privileged_ok):
    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    check(caps.get("drop") == ["ALL"], f"{name}: capabilities.drop == [ALL]")
    check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem")
    if sc.get("privileged"):
        check(privileged_ok, f"{name}: privileged only with tpm.access=privileged")
    else:
        check(sc.get("privileged") in (None, False), f"{name}: not privileged")
        check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation false")
    return sc


def seccomp_of(spec, c):
    sc = c.get("securityContext") or {}
    prof = (sc.get("seccompProfile") or (spec.get("securityContext") or {}).get("seccompProfile") or {})
    return prof.get("type")


def chart(path, expect):
    docs = load(path)
    kinds = [d["kind"] for d in docs]
    dss = [d for d in docs if d["kind"] == "DaemonSet"]
    check(len(dss) == 1, "exactly one DaemonSet")
    ds = dss[0]
    spec = ds["spec"]["template"]["spec"]
    privileged = expect.get("privileged") == "yes"
    access = expect.get("access", "devicePlugin")

    # Pod-level.
    check(spec.get("automountServiceAccountToken") is False, "pod: automountServiceAccountToken false")
    check(spec.get("hostNetwork") in (None, False), "pod: no hostNetwork")
    check(not spec.get("hostPID") and not spec.get("hostIPC"), "pod: no hostPID/hostIPC")
    check(spec.get("priorityClassName") == "system-node-critical", "pod: priorityClassName system-node-critical")
    ns = expect.get("nodeselector", "kubernetes.azure.com/security-type=ConfidentialVM")
    k, v = ns.split("=", 1)
    check((spec.get("nodeSelector") or {}).get(k) == v, f"pod: nodeSelector {ns}")
    sas = [d for d in docs if d["kind"] == "ServiceAccount"]
    check(len(sas) == 1 and sas[0].get("automountServiceAccountToken") is False,
          "ServiceAccount with automountServiceAccountToken false")
    gid = expect.get("groupid")
    groups = (spec.get("securityContext") or {}).get("supplementalGroups")
    if gid:
        check(groups == [int(gid)], f"pod: supplementalGroups [{gid}] for the TPM device")
    else:
        check(not groups, "pod: no supplementalGroups without tpm.groupId")

    # Every container.
    hp = hostpath_volumes(spec)
    sock_vol = [n for n, h in hp.items() if h["path"] == "/run/attestd"]
    check(len(sock_vol) == 1 and hp[sock_vol[0]].get("type") == "DirectoryOrCreate",
          "socket dir /run/attestd is a DirectoryOrCreate hostPath")
    daemon = None
    for kind, c in containers(spec):
        name = f"{kind} container {c['name']}"
        sc = check_container_baseline(name, c, privileged and c["name"] == "attestd")
        check(seccomp_of(spec, c) == "RuntimeDefault", f"{name}: seccomp RuntimeDefault")
        if c["name"] == "attestd":
            daemon = c
            check(bool(sc.get("privileged")) == privileged,
                  f"{name}: privileged={'yes' if privileged else 'no'} as tpm.access={access} asks")
        if c["name"] != "prepare":
            check(sc.get("runAsNonRoot") is True or privileged, f"{name}: runAsNonRoot")
            check((sc.get("runAsUser") or 0) != 0, f"{name}: runAsUser is not 0")
        else:
            add = (sc.get("capabilities") or {}).get("add") or []
            check(add == ["CHOWN"], f"{name}: adds only CAP_CHOWN")
        for m in c.get("volumeMounts", []) or []:
            if m["name"] in hp and hp[m["name"]]["path"] not in ("/run/attestd", "/var/lib/attestd"):
                check(m.get("readOnly") is True or hp[m["name"]].get("type") == "CharDevice",
                      f"{name}: hostPath {hp[m['name']]['path']} mounted read-only")
            if m["name"] in sock_vol:
                writable = not m.get("readOnly")
                check(writable == (c["name"] in ("attestd", "prepare")),
                      f"{name}: socket dir {'writable' if writable else 'read-only'}")
    check(daemon is not None, "daemon container 'attestd' present")
    if daemon is None:
        return
    env = {e["name"]: e.get("value") for e in daemon.get("env", [])}
    check(env.get("TSS2_LOG") == "all+ERROR", "attestd: TSS2_LOG=all+ERROR")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        cmd = ((daemon.get(probe) or {}).get("exec") or {}).get("command") or []
        check(any("attestctl" in part for part in cmd), f"attestd: {probe} runs attestctl")

    # TPM access.
    res = daemon.get("resources") or {}
    limits = res.get("limits") or {}
    dev_mounts = [n for n, h in hp.items() if h.get("type") == "CharDevice"]
    if access == "devicePlugin":
        rname = expect.get("resource", "squat.ai/tpmrm")
        check(limits.get(rname) == 1, f"attestd: limits {rname}: 1")
        check(not dev_mounts, "no hostPath device with the device plugin")
    elif access == "hostPath":
        check(len(dev_mounts) == 1 and hp[dev_mounts[0]]["path"] == "/dev/tpmrm0",
              "hostPath /dev/tpmrm0 of type CharDevice")
        check(not any("/" in k for k in limits), "no extended resource with hostPath")
    for k in ("cpu", "memory"):
        check(k in (res.get("requests") or {}) and k in limits, f"attestd: {k} request and limit")

    # Privileged warning.
    with open(path, encoding="utf-8") as f:
        text = f.read()
    warned = "WARNING: tpm.access=privileged" in text and \
        "attestd.io/warning" in (ds["metadata"].get("annotations") or {})
    check(warned == privileged, f"privileged warning {'present' if privileged else 'absent'}")

    # Metrics.
    tmpl_ann = ds["spec"]["template"]["metadata"].get("annotations") or {}
    metrics = expect.get("metrics") == "yes"
    check(("prometheus.io/scrape" in tmpl_ann) == metrics,
          f"prometheus scrape annotations {'present' if metrics else 'absent'}")
    ports = [p for p in daemon.get("ports", []) or [] if p.get("name") == "metrics"]
    check(bool(ports) == metrics, f"metrics port {'present' if metrics else 'absent'}")
    sm = expect.get("servicemonitor") == "yes"
    check(("ServiceMonitor" in kinds) == sm, f"ServiceMonitor {'present' if sm else 'absent'}")
    check(any(a.startswith("checksum/") for a in tmpl_ann), "checksum annotations roll config changes")

    # The rendered config.
    cms = [d for d in docs if d["kind"] == "ConfigMap"]
    check(len(cms) == 1, "one ConfigMap")
    cfg = json.loads(cms[0]["data"]["attestd.json"])
    json.loads(cms[0]["data"]["policy.json"])
    check(cfg["api"]["socket"] == "/run/attestd/attestd.sock", "config: api.socket in the shared dir")
    check(cfg["tpm"]["event_log"].startswith("/run/attestd-eventlog/"), "config: event log from the emptyDir copy")
    check(("metrics_listen" in cfg["api"]) == metrics, "config: api.metrics_listen follows metrics.enabled")
    if expect.get("tokenuid"):
        check(int(expect["tokenuid"]) in cfg["api"].get("token_uids", []), "config: token_uids carries the app uid")
    if expect.get("configout"):
        with open(expect["configout"], "w", encoding="utf-8") as f:
            json.dump(cfg, f)


def workload(paths):
    for path in paths:
        for doc in load(path):
            spec = pod_spec(doc)
            if spec is None:
                continue
            hp = hostpath_volumes(spec)
            sock = [n for n, h in hp.items() if h["path"] == "/run/attestd"]
            check(bool(sock), f"{path}: {doc['metadata']['name']} mounts the attestd socket dir")
            check(all(hp[n].get("type") == "Directory" for n in sock),
                  f"{path}: socket hostPath type Directory (never creates it)")
            check(spec.get("nodeSelector", {}).get("kubernetes.azure.com/security-type") == "ConfidentialVM",
                  f"{path}: nodeSelector ConfidentialVM")
            gates = [c for c in spec.get("initContainers", []) if "wait" in (c.get("command") or [])]
            check(bool(gates), f"{path}: an init container runs attestctl wait")
            for kind, c in containers(spec):
                name = f"{path}: {kind} container {c['name']}"
                check_container_baseline(name, c, False)
                check(seccomp_of(spec, c) == "RuntimeDefault", f"{name}: seccomp RuntimeDefault")
                for m in c.get("volumeMounts", []) or []:
                    if m["name"] in sock:
                        check(m.get("readOnly") is True, f"{name}: socket dir mounted read-only")


def main(argv):
    if len(argv) >= 3 and argv[1] == "chart":
        expect = dict(a.split("=", 1) for a in argv[3:])
        print(f"# {argv[2]}: {expect}")
        chart(argv[2], expect)
    elif len(argv) >= 3 and argv[1] == "workload":
        workload(argv[2:])
    else:
        print(__doc__)
        return 64
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
