"""Writes golden files the way ska-sdp-config writes values.

Run from this directory: python3 pywrite.py. The Go tests compare the
package's encoder with these files byte for byte.
"""
import json

CASES = {
    "deployment": {
        "key": "proc-pb-test-20261127-00000-vis-receive",
        "kind": "helm",
        "args": {
            "chart": "vis-receive",
            "values": {"receiver": {"port": 9000, "scale": 1.0}, "zeta": [1, 2.5e-05, "x"], "alpha": None},
        },
    },
    "state": {
        "pods": {"vis-receive-0": "RUNNING", "worker-ab12": "PENDING"},
        "release": {"chart": "vis-receive", "revision": 2, "status": "deployed", "x_other_tool": {"k": True}},
        "zz_unknown": [],
        "aa_unknown": {},
    },
    # A state entry with the reasons part: what the pods part says is as
    # in "state", so a reader of the pods part reads the same.
    "state_reasons": {
        "pods": {"vis-receive-0": "RUNNING", "worker-ab12": "PENDING", "worker-cd34": "FAILED"},
        "reasons": {
            "worker-ab12": {
                "container": "worker",
                "exit_code": 0,
                "exit_reason": "Completed",
                "message": "back-off 10s restarting failed container=worker pod=worker-ab12_sdp(ü)",
                "reason": "CrashLoopBackOff",
            },
            "worker-cd34": {
                "container": "fetch",
                "exit_code": 137,
                "init_container": True,
                "other_containers": 1,
                "reason": "OOMKilled",
            },
        },
        "release": {"chart": "vis-receive", "revision": 2, "status": "deployed", "x_other_tool": {"k": True}},
        "zz_unknown": [],
        "aa_unknown": {},
    },
    # A state entry whose release part says readiness and drift: the
    # fields the Python deployer writes are as in "state".
    "state_drift": {
        "pods": {"vis-receive-0": "RUNNING", "worker-ab12": "PENDING"},
        "release": {
            "chart": "vis-receive",
            "drift": [
                {"change": "deleted", "corrected": "2026-12-05T10:00:01Z", "kind": "Deployment", "name": "receive", "seen": "2026-12-05T10:00:00Z"},
                {"change": "changed", "fields": ["spec.replicas", "spec.template.spec.containers[name=receiver].image"], "kind": "StatefulSet", "name": "worker", "seen": "2026-12-05T10:00:02Z"},
            ],
            "readiness": "not-ready",
            "readiness_reason": "StatefulSet worker: 0 of 1 replicas ready",
            "revision": 2,
            "status": "deployed",
            "x_other_tool": {"k": True},
        },
        "zz_unknown": [],
        "aa_unknown": {},
    },
    "strings": {
        "quote\"back\\slash": "tab\tnl\ncr\rbs\bff\f",
        "ctrl": "\x00\x01\x1f\x7f",
        "unicode": "Ω µ 漢字 \u2028 \u2029 😀",
        "html": "<a href='x'>&</a>",
        "Zupper": "",
        "émoji-key": "😀",
    },
}

for name, value in CASES.items():
    with open(f"{name}.py.json", "w", encoding="utf-8") as f:
        f.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))
