"""What a RayService's running cluster was made from while upgradeStrategy None (or the like) held changes back,
found in git history: with no API server, Git's past is the only record.

    finder = BaselineFinder(repo, prefix, base_commit, setup, schema_of, cache_root)   # finder.close() at the end
    finder.find("prod", "RayService/aana-prod/aana")   # Baseline | None: the RayService the cluster was made from

Walking BASE's first-parent history back, the cluster was last written (kuberay v1.7.0 rsc shouldUpdateCluster
L1351, shouldPrepareNewCluster L1409):
1. at the last commit before the block began (or at the RayService's creation under it);
2. later, by an operator upgrade to KubeRay ≥ 1.2.1 during the block, which copies the whole spec in place.
Not followed: worker groups appended during the block, and v1.5.2/v1.6.1+ suspend toggles (both also copy the
whole spec); the baseline is then older than the truth, and the rollover reported too large.
"""
from __future__ import annotations

import subprocess
from contextlib import ExitStack
from pathlib import Path

import yaml

from raygitops.diff.gitrefs import git, worktree
from raygitops.diff.kuberay import NONE_MODE, OperatorSetup, parse_version, upgrade_mode
from raygitops.diff.rulebase import Baseline
from raygitops.errors import UserError
from raygitops.findings import resource_id
from raygitops.model.environment import Environment
from raygitops.model.stored import SchemaOf, stored_form
from raygitops.render import is_kustomization, render
from raygitops.render_inputs import InputMemo

MAX_RENDERS = 40          # commits rendered per RayService before giving up (the baseline is then unknown)
_STRATEGY_WORDS = "upgradeStrategy|None|NewCluster|ENABLE_ZERO_DOWNTIME|RayServiceIncrementalUpgrade"


class BaselineFinder:
    def __init__(self, repo: Path, prefix: Path, base_commit: str, setup: OperatorSetup, schema_of: SchemaOf,
                 cache_root: Path):
        self.repo, self.prefix, self.base = repo, prefix, base_commit
        self.setup, self.schema_of, self.cache_root = setup, schema_of, cache_root
        self._stack = ExitStack()
        self._tree: Path | None = None
        self._renders = 0

    def close(self) -> None:
        self._stack.close()

    # --- git ------------------------------------------------------------------------------------

    def _log(self, revisions: str, paths: list[str], words: str | None = None) -> list[str]:
        args = ["log", "--first-parent", "--format=%H", f"--max-count={MAX_RENDERS}"]
        args += [f"-G{words}"] if words else []
        process = git(self.repo, *args, revisions, "--", *paths, check=False)
        return process.stdout.split() if process.returncode == 0 else []

    def _parent(self, commit: str) -> str | None:
        process = git(self.repo, "rev-parse", "--verify", "--quiet", f"{commit}^", check=False)
        return process.stdout.strip() or None

    def _checkout(self, commit: str) -> Path:
        if self._tree is None:
            self._tree = self._stack.enter_context(worktree(self.repo, commit))
        else:
            git(self._tree, "checkout", "--quiet", "--detach", commit)
        return self._tree / self.prefix

    def _service_at(self, commit: str, env: str, rid: str) -> dict | None:
        """The RayService `rid` of overlays/<env> at `commit`, as stored; None when it is not there."""
        if self._renders >= MAX_RENDERS:
            raise _GaveUp
        self._renders += 1
        overlay = Environment(self._checkout(commit), env).overlay
        if not is_kustomization(overlay):
            return None
        # A fresh memo: the same directory holds another commit each time.
        rendered = render([overlay], root=self.cache_root, memo=InputMemo())[overlay]
        if isinstance(rendered, UserError):
            return None
        found = [r for r in rendered.resources if isinstance(r, dict) and resource_id(r) == rid]
        return stored_form(found[0], self.schema_of) if found else None

    def _kuberay_at(self, commit: str) -> str | None:
        process = git(self.repo, "show", f"{commit}:{(self.prefix / 'raygitops.yaml').as_posix()}", check=False)
        try:
            data = yaml.safe_load(process.stdout) if process.returncode == 0 else None
        except yaml.YAMLError:
            return None
        version = ((data or {}).get("versions") or {}).get("kuberay") if isinstance(data, dict) else None
        return str(version) if version is not None else None

    # --- the search ---------------------------------------------------------------------------------

    def _blocked(self, service: dict | None) -> bool:
        return service is not None and upgrade_mode(service, self.setup).kind == NONE_MODE

    def find(self, env: str, rid: str) -> Baseline | None:
        try:
            return self._find(env, rid)
        except (_GaveUp, UserError, subprocess.SubprocessError, OSError):
            return None

    def _find(self, env: str, rid: str) -> Baseline | None:
        paths = [(self.prefix / p).as_posix() for p in ("base", Environment(self.prefix, env).rel)]
        start = self.base                       # the oldest commit known to be under the block
        for commit in self._log(self.base, paths, _STRATEGY_WORDS):
            if not self._blocked(self._service_at(commit, env, rid)):
                break
            start = commit
        before = self._parent(start)
        service = self._service_at(before, env, rid) if before else None
        # The words may miss the commit that began the block: then walk every commit back from there.
        while self._blocked(service):
            start, before = before, self._parent(before)
            service = self._service_at(before, env, rid) if before else None
        if service is None:
            created = self._service_at(start, env, rid)
            found = Baseline(created, start, "the RayService was created under the block") if created else None
        else:
            found = Baseline(service, before, "the last commit before the block")
        return self._upgraded_since(found, env, rid) if found else None

    def _upgraded_since(self, found: Baseline, env: str, rid: str) -> Baseline:
        """An operator upgrade to ≥ 1.2.1 during the block wrote the whole spec then (sources.OPERATOR_UPGRADE)."""
        settings = (self.prefix / "raygitops.yaml").as_posix()
        for commit in self._log(f"{found.commit}..{self.base}", [settings]):
            new, old = self._kuberay_at(commit), self._kuberay_at(self._parent(commit) or commit)
            if new and new != old and parse_version(new) >= (1, 2, 1):
                service = self._service_at(commit, env, rid)
                if service is not None:
                    return Baseline(service, commit, f"the operator upgrade to KubeRay {new} copied the spec in place")
        return found


class _GaveUp(Exception):
    pass
