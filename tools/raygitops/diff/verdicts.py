"""tools/diff's verdicts, mildest first: what a change does to the running service, and which are errors.

    worst(["in-place", "outage"])             # "outage"
    fail_on_verdicts("rejected,suspend")      # {"rejected", "outage"}: what --fail-on accepts
"""
from __future__ import annotations

from typing import Iterable

from raygitops.errors import UserError

NO_OP = "no-op"                        # nothing changes in the cluster (or not yet: see the warning)
DEFERRED = "deferred"                  # applied later, at the next cluster switch; Git and cluster disagree until then
IN_PLACE = "in-place"                  # applied to what runs, nothing restarts
REPLICA_RESTART = "replica restart"    # Serve replaces a deployment's replicas
APP_RESTART = "app restart"            # Serve redeploys an application
NEW_CLUSTER = "new cluster"            # KubeRay starts a RayCluster (a rollover beside the running one, or from scratch)
VALIDATION_FAILED = "validation failed"   # KubeRay refuses the RayService spec and stops reconciling it
UNKNOWN_FIELD = "unknown field"        # the pinned KubeRay's CRD has no such field
REJECTED = "rejected"                  # the API server refuses the object: Argo CD's sync fails
OUTAGE = "outage"                      # the service stops answering (suspend)

VERDICTS = (NO_OP, DEFERRED, IN_PLACE, REPLICA_RESTART, APP_RESTART, NEW_CLUSTER, VALIDATION_FAILED,
            UNKNOWN_FIELD, REJECTED, OUTAGE)
# Shown as errors (a CAUTION block in the PR comment): the change will not be deployed as Git says, or takes
# the service down.
ERROR_VERDICTS = frozenset({VALIDATION_FAILED, UNKNOWN_FIELD, REJECTED, OUTAGE})
# Other names --fail-on accepts. `suspend` is what the PR workflow calls the outage of `spec.suspend: true`.
ALIASES = {"suspend": OUTAGE}


def worst(verdicts: Iterable[str]) -> str:
    return max(verdicts, key=VERDICTS.index, default=NO_OP)


def cli_name(verdict: str) -> str:
    """The spelling for a command line: `new-cluster`."""
    return verdict.replace(" ", "-")


def fail_on_verdicts(text: str) -> frozenset[str]:
    """`--fail-on rejected,suspend` → {"rejected", "outage"}; a UserError names an unknown one."""
    wanted = set()
    for raw in text.split(","):
        name = raw.strip().lower().replace("-", " ").replace("_", " ")
        if not name:
            continue
        verdict = ALIASES.get(name, name)
        if verdict not in VERDICTS:
            known = ", ".join([cli_name(v) for v in VERDICTS] + list(ALIASES))
            raise UserError(f"--fail-on: unknown verdict '{raw.strip()}'", fix=f"use one or more of {known}")
        wanted.add(verdict)
    if not wanted:
        raise UserError("--fail-on needs at least one verdict", fix="e.g. --fail-on rejected,suspend")
    return frozenset(wanted)
