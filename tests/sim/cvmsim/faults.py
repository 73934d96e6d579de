"""Injectable faults, shared by the MAA/IMDS emulator and the vTPM proxy."""

import threading

MAA_TRANSPORT = ("http-500", "http-503", "http-429", "hang", "slow", "truncated",
                 "garbage", "refuse-evidence")
MAA_TOKEN = ("wrong-signature", "wrong-issuer", "unknown-kid", "expired",
             "not-yet-valid", "alg-none")
IMDS = ("imds-down", "imds-500")
TPM = ("tpm-error", "tpm-drop", "tpm-crash")
ACTIONS = ("key-rotation",)
ALL = MAA_TRANSPORT + MAA_TOKEN + IMDS + TPM + ACTIONS


def slot_of(kind):
    if kind in MAA_TRANSPORT or kind in MAA_TOKEN:
        return "maa"
    if kind in IMDS:
        return "imds"
    if kind in TPM:
        return "tpm"
    raise ValueError("unknown fault kind %r" % kind)


class FaultState:
    """One active fault per slot (maa, imds, tpm). count 0 = until cleared."""

    def __init__(self):
        self.lock = threading.Lock()
        self.slots = {}
        self.applied = {}
        self.cleared = threading.Event()

    def set(self, kind, count=1, **opts):
        slot = slot_of(kind)
        with self.lock:
            self.slots[slot] = {"kind": kind, "remaining": int(count),
                                "infinite": int(count) == 0, "opts": opts}
            self.cleared.clear()

    def clear(self):
        with self.lock:
            self.slots.clear()
            self.cleared.set()

    def take(self, slot, kinds=None, accept=None):
        """Consume one application of the slot's fault if its kind is in kinds
        and accept(kind, opts) (when given) says it applies."""
        with self.lock:
            f = self.slots.get(slot)
            if f is None or (kinds is not None and f["kind"] not in kinds):
                return None
            if accept is not None and not accept(f["kind"], f["opts"]):
                return None
            if not f["infinite"]:
                f["remaining"] -= 1
                if f["remaining"] <= 0:
                    del self.slots[slot]
            self.applied[f["kind"]] = self.applied.get(f["kind"], 0) + 1
            return f["kind"], dict(f["opts"])

    def snapshot(self):
        with self.lock:
            return {"active": {s: {"kind": f["kind"],
                                   "remaining": None if f["infinite"] else f["remaining"],
                                   "opts": f["opts"]} for s, f in self.slots.items()},
                    "applied": dict(self.applied)}
