"""The strategic-merge patch import writes: only differences, null deletes, named lists by their key in base order.

    .venv/bin/pytest tests/unit/test_smpdiff.py -q
"""
from __future__ import annotations

from raygitops.diff.fields import CHANGED, FieldChange
from raygitops.edit.adoptcheck import classify
from raygitops.edit.smpdiff import strategic_diff


def test_mappings_keep_only_changes_and_delete_with_null():
    assert strategic_diff({"a": 1, "b": 2}, {"a": 1, "b": 2}) is None
    assert strategic_diff({"a": 1, "b": {"c": 1, "d": 2}}, {"a": 2, "b": {"c": 1}, "e": 3}) == {
        "a": 2, "b": {"d": None}, "e": 3}


def test_named_lists_list_every_base_item_in_base_order_then_new_ones():
    base = {"workerGroupSpecs": [{"groupName": "cpu", "replicas": 1}, {"groupName": "small", "replicas": 1}]}
    wanted = {"workerGroupSpecs": [{"groupName": "gpu", "replicas": 1}, {"groupName": "cpu", "replicas": 3},
                                   {"groupName": "small", "replicas": 1}]}
    assert strategic_diff(base, wanted) == {"workerGroupSpecs": [
        {"groupName": "cpu", "replicas": 3}, {"groupName": "small"}, {"groupName": "gpu", "replicas": 1}]}


def test_a_base_item_the_target_lacks_is_deleted_by_directive():
    base = {"containers": [{"name": "ray-head", "image": "x"}, {"name": "sidecar"}]}
    assert strategic_diff(base, {"containers": [{"name": "ray-head", "image": "y"}]}) == {
        "containers": [{"name": "ray-head", "image": "y"}, {"name": "sidecar", "$patch": "delete"}]}


def test_lists_without_a_merge_key_are_replaced_whole():
    base = {"tolerations": [{"key": "a"}], "args": ["x"]}
    assert strategic_diff(base, {"tolerations": [{"key": "b"}], "args": ["x"]}) == {"tolerations": [{"key": "b"}]}


def test_round_trip_differences_are_intended_only_by_path_and_kind():
    added = FieldChange(("spec", "x"), "added")
    changed = FieldChange(("spec", "x"), CHANGED, 1, 2)
    other = FieldChange(("spec", "y"), CHANGED, 1, 2)
    matched, unexpected = classify([added, changed, other], [(r"^spec\.x$", "written out", ("added",))])
    assert matched == [(added, "written out")] and unexpected == [changed, other]
