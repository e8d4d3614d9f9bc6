"""A small real Aana application: an endpoint, a deployment with a user_config, and a database record.

    aana_app in apps/echo_aana/app.py; raygitops.yaml lists it as `aana: apps.echo_aana.app:aana_app`
"""
