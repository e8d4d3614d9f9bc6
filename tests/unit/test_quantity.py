"""Quantities as KubeRay hashes them: Go's resource.Quantity text, and which fields of a RayService hold one.

    pytest tests/unit/test_quantity.py -q
"""
from __future__ import annotations

import copy

import pytest

from raygitops.model.quantity import canonical_quantity, canonicalise_quantities

# Produced by Go itself: k8s.io/apimachinery v0.33.0 pkg/api/resource (quantity.go, amount.go, math.go,
# suffix.go, scale_int.go) built with Go 1.19, each input read by Quantity.UnmarshalJSON and printed by
# MarshalJSON / String() (the two agree), as KubeRay's json.Unmarshal then GenerateJsonHash do.
GO_QUANTITY_STRING = [
    ("0", "0"), ("1", "1"), ("1000m", "1"), ("1024Mi", "1Gi"), ("0.5", "500m"),
    ("1000", "1k"), ("250000000", "250M"), ("2.5G", "2500M"), ("0.25", "250m"), (".5", "500m"),
    ("-1", "-1"), ("-1.5", "-1500m"), ("-0", "0"), ("100m", "100m"), ("1500m", "1500m"),
    ("1.1m", "1100u"), ("0.001m", "1u"), ("129M", "129M"), ("128974848", "128974848"),
    ("1.5Gi", "1536Mi"), ("0.5Gi", "512Mi"), ("1024Ki", "1Mi"), ("-1024Ki", "-1Mi"), ("1023Ki", "1023Ki"),
    ("12Mi", "12Mi"), ("123Mi", "123Mi"), ("8Gi", "8Gi"), ("1Ei", "1Ei"), ("7Ei", "7Ei"),
    # BinarySI below 1024, or fractional, prints as DecimalSI
    ("1.5Ki", "1536"), ("0.1Ki", "102400m"), ("0.9765625Ki", "1k"), ("0.5Ki", "512"),
    # text already in canonical form is kept as written, exponent and sign and leading zeros included
    ("1e3", "1e3"), ("1E3", "1E3"), ("2e+3", "2e+3"), ("129e6", "129e6"), ("1e-3", "1e-3"), ("+1", "+1"),
    ("1Ki", "1Ki"), ("1.", "1."), ("1.G", "1.G"), ("1E", "1E"), ("00100", "00100"),
    ("1000e0", "1e3"), ("1e-7", "100e-9"),
    # rounded up to 1n; BinarySI capped at 2^63-1; no suffix past E, and none printed
    ("0.0000000001", "1n"), ("1.e-10", "1e-9"), ("8Ei", "9223372036854775807"),
    ("9223372036854775807Ki", "9223372036854775807"), ("1000E", "1"),
    ("1000000000000000000000m", "1E"), ("100000000000000000000", "100E"),
    ("123456789012345678901234567890", "123456789012345678901234567890"),
]


@pytest.mark.parametrize("text, expected", GO_QUANTITY_STRING)
def test_canonical_text_is_what_go_prints(text, expected):
    assert canonical_quantity(text) == expected


# Numbers as the API server serves them to KubeRay: Go's encoding/json text (also from Go 1.19), then as above.
@pytest.mark.parametrize("number, expected", [
    (1, "1"), (1000, "1k"), (0, "0"), (-1, "-1"), (2**63 - 1, "9223372036854775807"),
    (2**63, "9223372036854776k"),   # past int64 the API server decodes a float64: 9223372036854776000
    (10**30, "1e+30"),              # float64 1e+30
    (0.5, "500m"), (1.0, "1"), (0.1, "100m"), (-0.25, "-250m"), (1 / 3, "333333334n"),
    (1e-7, "100e-9"), (1.5e-7, "150e-9"), (1e-9, "1e-9"), (2.5e-9, "3e-9"),   # Go prints 1e-9, not 1e-09 (1e-6, "1u"), (1e20, "100E"), (1e21, "1e+21"), (5e-324, "1e-9"),
])
def test_numbers_read_as_the_api_server_serves_them(number, expected):
    assert canonical_quantity(number) == expected


def test_the_issue_examples_compare_equal():
    assert canonical_quantity("1000m") == canonical_quantity("1") == canonical_quantity(1) == "1"
    assert canonical_quantity("1024Mi") == canonical_quantity("1Gi") == "1Gi"
    assert canonical_quantity("0.5") == canonical_quantity("500m") == "500m"
    assert canonical_quantity("1000") == canonical_quantity("1k") == "1k"


def test_a_quantity_remembers_its_format_and_its_canonical_text():
    # quantity.go: ParseQuantity keeps the format of the suffix (DecimalExponent for "e0"), and keeps the
    # text itself when it is already canonical, sign included; MarshalJSON prints either. KubeRay's hash
    # therefore differs between 1e3 and 1k, and between +1 and 1, so a diff must too.
    assert canonical_quantity("1000e0") == canonical_quantity("1e3") == "1e3" != canonical_quantity("1k")
    assert canonical_quantity("+1") == "+1" != canonical_quantity("1")


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 10, 999, 1000, 1023, 1024, 4096, 10**6, 123456789])
def test_two_spellings_of_one_value_in_one_format_agree(n):
    assert canonical_quantity(f"{n * 1000}m") == canonical_quantity(str(n)) == canonical_quantity(n)
    assert canonical_quantity(f"{n * 1024}Ki") == canonical_quantity(f"{n}Mi")
    assert canonical_quantity(canonical_quantity(f"{n}Gi")) == canonical_quantity(f"{n}Gi")


@pytest.mark.parametrize("value", [
    "", "abc", "1Kb", "1ki", "5i", "0x10", " 1", "1 ", "1\n", ".", "-", "+", "Ki", "1e", "1e+", "1e1.5", ".e-10",
    "1,5", "１", None, True, False, float("nan"), float("inf"), [], {}, b"1",
])
def test_a_non_quantity_is_a_value_error(value):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        canonical_quantity(value)


def _container(name: str, limits: dict, requests: dict | None = None) -> dict:
    return {"name": name, "image": "rayproject/ray:2.9.0",
            "resources": {"limits": limits, "requests": requests or dict(limits)}}


def _rayservice(cpu, memory, start_cpus="1", group_cpu="1") -> dict:
    pod = {"containers": [_container("ray", {"cpu": cpu, "memory": memory, "nvidia.com/gpu": 1})],
           "overhead": {"cpu": cpu},
           "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": memory}},
                       {"name": "data", "ephemeral": {"volumeClaimTemplate": {"spec": {
                           "resources": {"requests": {"storage": memory}}}}}}]}
    return {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "s"}, "spec": {
        "serveConfigV2": "applications: []\n",
        "rayClusterConfig": {
            "autoscalerOptions": {"resources": {"limits": {"cpu": cpu}, "requests": {"memory": memory}}},
            "headGroupSpec": {"rayStartParams": {"num-cpus": start_cpus}, "resources": {"CPU": group_cpu},
                              "template": {"spec": pod}},
            "workerGroupSpecs": [{"groupName": "gpu", "rayStartParams": {"memory": start_cpus},
                                  "resources": {"CPU": group_cpu}, "template": {"spec": copy.deepcopy(pod)}}],
        }}}


def test_every_quantity_field_of_a_rayservice_compares_canonically():
    one = canonicalise_quantities(_rayservice(cpu="1", memory="1Gi"))
    other = canonicalise_quantities(_rayservice(cpu="1000m", memory="1024Mi"))
    assert one == other
    worker = one["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]
    assert worker["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert worker["volumes"][0]["emptyDir"]["sizeLimit"] == "1Gi"
    assert worker["overhead"] == {"cpu": "1"}


def test_fields_kuberay_hashes_as_strings_stay_as_written():
    # rayStartParams and v1.7.0's group `resources` are map[string]string in KubeRay's structs.
    one = canonicalise_quantities(_rayservice("1", "1Gi", start_cpus="1", group_cpu="1"))
    other = canonicalise_quantities(_rayservice("1", "1Gi", start_cpus="1.0", group_cpu="1000m"))
    assert one != other
    head = other["spec"]["rayClusterConfig"]["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "1.0"} and head["resources"] == {"CPU": "1000m"}


def test_a_non_quantity_stays_as_written_and_the_input_is_not_mutated():
    service = _rayservice(cpu="lots", memory="1024Mi")
    before = copy.deepcopy(service)
    result = canonicalise_quantities(service)
    assert service == before
    limits = result["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "lots", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert result["spec"]["serveConfigV2"] == "applications: []\n"
