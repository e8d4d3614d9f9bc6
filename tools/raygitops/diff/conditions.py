"""The conditions of the rules table's rows (diff/rules.py): predicates on a change in its context.

    Rule("spec.suspend", OUTAGE, "...", SUSPEND_SERVICE, when=when.suspends)
    when.rolls_over(ctx)      # the RayService's rayClusterConfig change rolls out a new RayCluster
"""
from __future__ import annotations

from raygitops.diff.fields import ADDED
from raygitops.diff.kuberay import INCREMENTAL_MODE, NONE_MODE, TIMEOUT_ANNOTATION, is_muted
from raygitops.diff.rulebase import Context, serve_service_name, spec

# Fields of a Serve deployment that Serve updates without restarting replicas (Ray's DeploymentConfig:
# LightWeight, NeedsReconfigure and NeedsActorReconfigure; user_config reaches running replicas through reconfigure()).
SERVE_IN_PLACE_FIELDS = ("num_replicas", "autoscaling_config", "user_config", "max_ongoing_requests",
                         "max_concurrent_queries", "max_queued_requests", "graceful_shutdown_timeout_s",
                         "graceful_shutdown_wait_loop_s", "health_check_period_s", "health_check_timeout_s",
                         "logging_config")
# Fields that change the replica's actor: Serve starts new replicas.
SERVE_RESTART_FIELDS = ("ray_actor_options", "placement_group_bundles", "placement_group_strategy",
                        "max_replicas_per_node")


def whole_resource(ctx: Context) -> bool:
    return ctx.change is None


def light_deployment_entry(ctx: Context) -> bool:
    """An added or removed deployment entry that sets only in-place fields: Serve moves the
    deployment between those values and the code's defaults without restarting replicas."""
    entry = ctx.change.after if ctx.change.change == ADDED else ctx.change.before
    return isinstance(entry, dict) and set(entry) <= {"name", *SERVE_IN_PLACE_FIELDS}


def argocd_hook(ctx: Context) -> bool:
    resource = ctx.resource.after or ctx.resource.before or {}
    return "argocd.argoproj.io/hook" in ((resource.get("metadata") or {}).get("annotations") or {})


def action(ctx: Context) -> str:
    return ctx.situation.action.kind if ctx.situation.action else "none"


def mode(ctx: Context, side: str = "after") -> str:
    mode = getattr(ctx.situation, side)
    return mode.kind if mode else ""


def updated_in_place(ctx: Context) -> bool:
    return action(ctx) == "update"


def unchanged_cluster(ctx: Context) -> bool:
    return action(ctx) == "none"


def rolls_over(ctx: Context) -> bool:
    return action(ctx) == "rollover" and mode(ctx) != NONE_MODE


def rolls_incrementally(ctx: Context) -> bool:
    return rolls_over(ctx) and mode(ctx) == INCREMENTAL_MODE


def blocked_by(cause: str):
    def blocked(ctx: Context) -> bool:
        return action(ctx) == "rollover" and mode(ctx) == NONE_MODE and ctx.situation.after.cause == cause
    return blocked


def muted_here(ctx: Context) -> bool:
    return ctx.shape[:2] == ("spec", "rayClusterConfig") and is_muted(ctx.shape[2:], ctx.version)


def appended_alone(ctx: Context) -> bool:
    action = ctx.situation.action
    return updated_in_place(ctx) and not action.suspend_toggle and bool(action.appended)


def recreates(ctx: Context) -> bool:
    strategy = (spec(ctx.resource.after).get("rayClusterConfig") or {}).get("upgradeStrategy")
    return isinstance(strategy, dict) and strategy.get("type") == "Recreate"


def flag(side, *keys) -> bool:
    value = spec(side)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value is True


def suspends(ctx: Context) -> bool:
    return flag(ctx.resource.after, "suspend") and not flag(ctx.resource.before, "suspend")


def resumes(ctx: Context) -> bool:
    return flag(ctx.resource.before, "suspend") and not flag(ctx.resource.after, "suspend")


def created_suspended(ctx: Context) -> bool:
    return ctx.change is None and flag(ctx.resource.after, "suspend")


def cluster_suspends(ctx: Context) -> bool:
    return (flag(ctx.resource.after, "rayClusterConfig", "suspend")
            and not flag(ctx.resource.before, "rayClusterConfig", "suspend"))


def cluster_resumes(ctx: Context) -> bool:
    return (flag(ctx.resource.before, "rayClusterConfig", "suspend")
            and not flag(ctx.resource.after, "rayClusterConfig", "suspend"))


def unblocked(ctx: Context) -> bool:
    return mode(ctx, "before") == NONE_MODE and mode(ctx) not in (NONE_MODE, "")


def unblocked_rollover(ctx: Context) -> bool:
    return unblocked(ctx) and action(ctx) == "rollover"


def now_blocked(cause: str):
    def blocked(ctx: Context) -> bool:
        return (mode(ctx) == NONE_MODE and mode(ctx, "before") not in (NONE_MODE, "")
                and ctx.situation.after.cause == cause)
    return blocked


def to_incremental(ctx: Context) -> bool:
    return mode(ctx) == INCREMENTAL_MODE and mode(ctx, "before") != INCREMENTAL_MODE


def from_incremental(ctx: Context) -> bool:
    return mode(ctx, "before") == INCREMENTAL_MODE and mode(ctx) != INCREMENTAL_MODE


def incremental(ctx: Context) -> bool:
    return mode(ctx) == INCREMENTAL_MODE


def serve_service_renamed(ctx: Context) -> bool:
    return serve_service_name(ctx.resource.before) != serve_service_name(ctx.resource.after)


def timeout(side) -> str | None:
    annotations = ((side or {}).get("metadata") or {}).get("annotations") if isinstance(side, dict) else None
    value = annotations.get(TIMEOUT_ANNOTATION) if isinstance(annotations, dict) else None
    return None if value is None else str(value)


def timeout_changes(ctx: Context) -> bool:
    """The change is the annotation, or the whole annotations map that holds it, and its value differs."""
    shape = ctx.shape
    return ((len(shape) == 2 or shape[2] == TIMEOUT_ANNOTATION)
            and timeout(ctx.resource.before) != timeout(ctx.resource.after))


def cluster_written(ctx: Context) -> bool:
    return updated_in_place(ctx) or rolls_over(ctx)
