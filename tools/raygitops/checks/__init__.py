"""Checks: every source of findings (schemas, serve config, policies) and validate, which runs them."""
