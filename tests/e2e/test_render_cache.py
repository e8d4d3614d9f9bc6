"""The render cache key covers every file kustomize reads, whatever kind of reference reaches it (issue 12).

Each case is a small kustomization tree, rendered with real kustomize (cached), then one file that a
reference of that kind reaches is changed: the next render must see it, and a third one hit the cache.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from raygitops.render import render, render_overlay
from raygitops.render_inputs import InputMemo

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  v: one\n"
CM_PATCH = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  v: {}\n"
PATCH_TRANSFORMER = ("apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: pt\npath: patch.yaml\n"
                     "target:\n  kind: ConfigMap\n")
THING = ("apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\nspec:\n  configName: cm\n  otherName: cm\n"
         "  items:\n  - {name: a, x: '1'}\n  - {name: b, x: '2'}\n")
SCHEMA = """{"definitions": {
 "com.example.v1.Thing": {"type": "object", "properties": {"spec": {"$ref": "#/definitions/com.example.v1.Spec"}},
   "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Thing", "version": "v1"}]},
 "com.example.v1.Spec": {"type": "object", "properties": {"items": {"type": "array",
   "items": {"$ref": "#/definitions/com.example.v1.Item"},
   "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}}},
 "com.example.v1.Item": {"type": "object", "properties": {"name": {"type": "string"}, "x": {"type": "string"}}}}}
"""
THING_PATCH = ("  - patch: |-\n      apiVersion: example.com/v1\n      kind: Thing\n      metadata: {name: t}\n"
               "      spec:\n        items: [{name: a, x: '9'}]\n")

# id → (files, the file to change, old text, new text, a line only the new render has)
CASES = {
    "resources: a file": (
        {"k/kustomization.yaml": "resources: [cm.yaml]\n", "k/cm.yaml": CM},
        "k/cm.yaml", "v: one", "v: two", "v: two"),
    "resources: a directory": (
        {"k/kustomization.yaml": "resources: [../base]\n", "base/kustomization.yaml": "resources: [cm.yaml]\n",
         "base/cm.yaml": CM},
        "base/cm.yaml", "v: one", "v: two", "v: two"),
    "components: a patch in a component": (
        {"k/kustomization.yaml": "resources: [cm.yaml]\ncomponents: [../comp]\n", "k/cm.yaml": CM,
         "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                    "patches:\n  - path: patch.yaml\n",
         "comp/patch.yaml": CM_PATCH.format("one")},
        "comp/patch.yaml", "v: one", "v: two", "v: two"),
    "patches: inline": (
        {"k/kustomization.yaml": "resources: [cm.yaml]\npatches:\n  - patch: |-\n"
                                 + "".join(f"      {line}\n" for line in CM_PATCH.format("one").splitlines()),
         "k/cm.yaml": CM},
        "k/kustomization.yaml", "v: one", "v: two", "v: two"),
    "patches: by path": (
        {"k/kustomization.yaml": "resources: [cm.yaml]\npatches:\n  - path: patch.yaml\n", "k/cm.yaml": CM,
         "k/patch.yaml": CM_PATCH.format("one")},
        "k/patch.yaml", "v: one", "v: two", "v: two"),
    "configMapGenerator: files": (
        {"k/kustomization.yaml": "configMapGenerator:\n  - name: gen\n    files: [data.txt]\n", "k/data.txt": "one\n"},
        "k/data.txt", "one", "two", "data.txt: |\n    two"),
    "configMapGenerator: envs": (
        {"k/kustomization.yaml": "configMapGenerator:\n  - name: gen\n    envs: [vars.env]\n", "k/vars.env": "V=one\n"},
        "k/vars.env", "V=one", "V=two", "V: two"),
    "transformers: a PatchTransformer's path": (
        {"k/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [pt.yaml]\n", "k/cm.yaml": CM,
         "k/pt.yaml": PATCH_TRANSFORMER, "k/patch.yaml": CM_PATCH.format("one")},
        "k/patch.yaml", "v: one", "v: two", "v: two"),
    "generators: a ConfigMapGenerator config's files": (
        {"k/kustomization.yaml": "generators: [gen.yaml]\n", "k/data.txt": "one\n",
         "k/gen.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: gen\nfiles: [data.txt]\n"},
        "k/data.txt", "one", "two", "data.txt: |\n    two"),
    "replacements: by path": (
        {"k/kustomization.yaml": "resources: [cm.yaml, source.yaml]\nreplacements:\n  - path: replacement.yaml\n",
         "k/cm.yaml": CM,
         "k/source.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: source\ndata:\n  v: three\n  w: four\n",
         "k/replacement.yaml": "source: {kind: ConfigMap, name: source, fieldPath: data.v}\n"
                               "targets:\n  - select: {kind: ConfigMap, name: cm}\n    fieldPaths: [data.v]\n"},
        "k/replacement.yaml", "data.v}", "data.w}", "v: four"),
    "openapi: the schema by path": (
        {"k/kustomization.yaml": "resources: [thing.yaml]\nopenapi:\n  path: schema.json\npatches:\n" + THING_PATCH,
         "k/thing.yaml": THING, "k/schema.json": SCHEMA},
        "k/schema.json", '"x-kubernetes-patch-strategy": "merge"', '"x-kubernetes-patch-strategy": "replace"',
        "  items:\n  - name: a\n    x: \"9\"\n  otherName"),
    "configurations: name references": (
        {"k/kustomization.yaml": "namePrefix: p-\nresources: [cm.yaml, thing.yaml]\nconfigurations: [refs.yaml]\n",
         "k/cm.yaml": CM, "k/thing.yaml": THING,
         "k/refs.yaml": "nameReference:\n- kind: ConfigMap\n  fieldSpecs:\n"
                        "  - kind: Thing\n    path: spec/configName\n"},
        "k/refs.yaml", "spec/configName", "spec/otherName", "otherName: p-cm"),
    "two levels down: a PatchTransformer's path": (
        {"k/kustomization.yaml": "resources: [../mid]\n", "mid/kustomization.yaml": "resources: [../leaf]\n",
         "leaf/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [pt.yaml]\n", "leaf/cm.yaml": CM,
         "leaf/pt.yaml": PATCH_TRANSFORMER, "leaf/patch.yaml": CM_PATCH.format("one")},
        "leaf/patch.yaml", "v: one", "v: two", "v: two"),
}


def build_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_change_reached_by_every_kind_of_reference_is_rendered(tmp_path, case):
    files, changed, old, new, only_new = CASES[case]
    build_tree(tmp_path, files)
    overlay = tmp_path / "k"
    first = render_overlay(overlay, root=tmp_path)
    assert not first.cached and only_new not in first.text
    assert render_overlay(overlay, root=tmp_path).cached          # the cache is in use
    (tmp_path / changed).write_text((tmp_path / changed).read_text().replace(old, new))
    second = render_overlay(overlay, root=tmp_path)
    assert not second.cached and only_new in second.text, second.text
    assert render_overlay(overlay, root=tmp_path).cached
    # The batch renderer (tools/validate, tools/diff) keys the same way.
    (tmp_path / changed).write_text((tmp_path / changed).read_text().replace(new, old))
    [batch] = render([overlay], root=tmp_path, memo=InputMemo()).values()
    assert batch.text == first.text and batch.cached   # the first render's entry, not the second's


def test_a_link_inside_a_root_is_part_of_the_key(tmp_path):
    """Retargeting a link (from one file to another inside the tree) changes what kustomize reads."""
    build_tree(tmp_path, {"k/kustomization.yaml": "resources: [cm.yaml]\n", "k/one.yaml": CM,
                          "k/two.yaml": CM.replace("v: one", "v: two")})
    (tmp_path / "k/cm.yaml").symlink_to("one.yaml")
    assert "v: one" in render_overlay(tmp_path / "k", root=tmp_path).text
    (tmp_path / "k/cm.yaml").unlink()
    (tmp_path / "k/cm.yaml").symlink_to("two.yaml")
    assert "v: two" in render_overlay(tmp_path / "k", root=tmp_path).text
