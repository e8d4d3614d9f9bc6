"""Generating: the serve config each environment deploys, the working_dir package, the kustomize glue."""
