"""What tools/validate reads: the inputs one by one (stdin, YAML files, kustomizations), each as a Source.

    units = units_of(paths or default_paths(root), root)   # refuses a missing path, a kustomization outside overlays/
    source = load_plain(Path("app.yaml"), root)           # or rendered_source(path, render([path], root=root)[path], root)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raygitops.checks.provenance import check_kustomization_place, refuse_serve_config_past_bounds
from raygitops.errors import UserError
from raygitops.model.environment import discover, environment_of
from raygitops.render import Rendered, is_component, is_kustomization
from raygitops.yamlbounds import InputRefused, read_input, read_stdin
from raygitops.yamlio import first_duplicate_key, load_documents, relpath

STDIN = "-"


@dataclass
class Source:
    """One input: a rendered kustomization, a YAML file, or stdin."""
    label: str
    environment: str = ""
    resources: tuple = ()
    nodes: tuple = ()               # each resource's composed YAML, for plain files: findings get lines
    error: UserError | None = None


def environment_name(path: Path, root: Path) -> str:
    """A path given on the command line is relative to the current directory, which may be below root."""
    env = environment_of(path.absolute(), root)
    return env.name if env else ""


def _documents(text: str, label: str) -> Source:
    """Parse a multi-document YAML stream, keeping where each document starts. Input past the
    bounds (raygitops.yamlio) stops the run; a syntax error is this source's finding."""
    try:
        nodes, documents = load_documents(text, label)
    except InputRefused:
        raise
    except UserError as error:
        return Source(label, error=error)
    for node in nodes:
        duplicate = first_duplicate_key(node)
        if duplicate:
            key, line, first = duplicate
            return Source(label, error=UserError(f"duplicate key '{key}' (first at line {first})", file=label,
                                                 line=line, fix="keep one of them"))
    pairs = []
    for document, node in zip(documents, nodes):
        if document is None:
            continue
        if _is_list(document):
            # kubectl get -o yaml writes a List: each item is checked as the resource it is.
            item_nodes = next((v.value for k, v in node.value if k.value == "items"), [])
            pairs.extend(zip(document["items"], item_nodes))
        else:
            pairs.append((document, node))
    return Source(label, resources=tuple(d for d, _ in pairs), nodes=tuple(n for _, n in pairs))


def load_plain(unit: Path | str, root: Path) -> Source:
    """A YAML file or stdin as a source, its serve configs' bounds checked too."""
    label = "<stdin>" if unit == STDIN else relpath(Path(unit), root)
    source = _documents(read_stdin(label) if unit == STDIN else read_input(Path(unit), label), label)
    for resource in source.resources:
        refuse_serve_config_past_bounds(resource, label)
    return source


def _is_list(document: Any) -> bool:
    return (isinstance(document, dict) and isinstance(document.get("kind"), str) and document["kind"].endswith("List")
            and isinstance(document.get("items"), list))


def _expand(path: Path) -> list[Path]:
    """A directory of manifests: its YAML files, and any kustomization below it as one unit
    (rendered, not read file by file; Components are skipped)."""
    if path.is_file():
        return [path]
    out: list[Path] = []
    for child in sorted(path.iterdir()):
        if child.is_dir():
            if is_kustomization(child):
                if not is_component(child):
                    out.append(child)
            else:
                out.extend(_expand(child))
        elif child.suffix in (".yaml", ".yml") and child.is_file():
            out.append(child)
    return out


# Deployed, but not through an overlay: the operator's namespaces and everything Argo CD applies.
_OTHER_KUSTOMIZATIONS = ("base/kuberay-operator", "argocd", "argocd/root")


def default_paths(root: Path) -> list[Path]:
    paths = [path for env in discover(root) for path in (env.overlay, *env.cluster_layers)]
    return paths + [root / rel for rel in _OTHER_KUSTOMIZATIONS if is_kustomization(root / rel)]


def units_of(paths: list[Path | str], root: Path) -> list[Path | str]:
    """The inputs one by one: stdin, kustomization directories and YAML files."""
    units: list[Path | str] = []
    for raw in paths:
        if raw == STDIN:
            units.append(raw)
            continue
        path = Path(raw)
        if is_kustomization(path):
            check_kustomization_place(path, root, str(raw))
            units.append(path)
        elif path.is_dir():
            found = _expand(path)
            if not found:
                raise UserError("no YAML files or kustomizations here", file=str(raw),
                                fix="give overlay directories, YAML files or directories, or - for stdin")
            units.extend(found)
        elif path.exists():
            units.append(path)
        else:
            raise UserError("no such file or directory", file=str(raw),
                            fix="give overlay directories, YAML files or directories, or - for stdin")
    return units


def rendered_source(path: Path, result: Rendered | UserError, root: Path) -> Source:
    """A kustomization's render (or its failure) as a source. Input past the bounds stops the run,
    like a file or stdin."""
    label, environment = relpath(path, root), environment_name(path, root)
    if isinstance(result, InputRefused):
        raise result
    if isinstance(result, UserError):
        return Source(label, environment, error=result)
    return Source(label, environment, resources=result.resources)
