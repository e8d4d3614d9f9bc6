"""Diffing: fields of rendered resources, KubeRay rollout rules, comparing two revisions."""
