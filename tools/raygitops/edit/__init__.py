"""Editing human-written YAML with its comments kept: the commands scale, set, env, import, promote."""
