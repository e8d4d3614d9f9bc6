"""raygitops: render, check and run Ray Serve apps deployed with KubeRay, Kustomize and Argo CD.

    from raygitops.generate.regen import regenerate
    regenerate(repo_root)  # writes every overlays/<env>/generated/ file
"""
