"""Resource quantities as KubeRay hashes them (Go's resource.Quantity.String()), and objects with them made so.

    canonical_quantity("1024Mi"), canonical_quantity(1), canonical_quantity("1e3")   # "1Gi", "1", "1e3"
    canonicalise_quantities(rayservice)   # a copy in which every Quantity-typed field is canonical

A port of k8s.io/apimachinery v0.33.0 pkg/api/resource (parsing and printing are the same from v0.20.0 to master):
quantity.go parseQuantityString, ParseQuantity, CanonicalizeBytes, String, MarshalJSON, UnmarshalJSON;
amount.go int64Amount/infDecAmount AsCanonicalBytes and AsCanonicalBase1024Bytes; suffix.go newSuffixer and
constructBytes. Go's quirks are kept on purpose, because KubeRay's hash sees them:
- A Quantity remembers the format of its suffix: "1e3" and "1000e0" print "1e3", "1000" and "1k" print
  "1k", "1024" prints "1024" and "1Ki" prints "1Ki".
- ParseQuantity keeps the text as written when it is already canonical (`s: str`), and String() /
  MarshalJSON print that text: "+1" stays "+1", "00100" stays "00100", "1." stays "1.".
- A decimal exponent past E (10^18) has no suffix, and constructBytes then prints none: "1000E" → "1".
- Values are rounded up (away from zero) to 1n; BinarySI values are capped at 2^63-1.
Numbers are what the API server serves KubeRay: ints as written, floats as Go's encoding/json prints them.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"

# What the API server checks before anything parses a quantity string: Kubernetes' OpenAPI pattern for
# Quantity, which KubeRay's CRDs carry under every resources.requests/limits (ray.io_rayclusters.yaml).
# Go's parser alone would also take " 1", "." and "-" (UnmarshalJSON trims; the scanner reads them as 0).
_PATTERN = re.compile(r"(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                      r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?")

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX_OF = {exponent: text for text, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_OF = {exponent // 10: text for text, exponent in _BINARY_SUFFIXES.items()}
_SUFFIX_CHARS = "eEinumkKMGTP"
_DIGITS = "0123456789"
_MAX_INT64 = 2**63 - 1
_MAX_INT64_FACTORS = 18   # math.go maxInt64Factors
_NANO = -9                # the smallest scale a Quantity keeps


def canonical_quantity(value: str | int | float) -> str:
    """The text KubeRay's hash holds for this quantity; ValueError when it is not a quantity.

    A number is read as the API server serves it. A fractional number parses (as for a Pod), but a custom
    resource's schema (integer or string) rejects it: that is validate's finding, not this function's.
    """
    if isinstance(value, str):
        if not _PATTERN.fullmatch(value):
            raise ValueError(f"not a Kubernetes quantity: {value!r}")
        text = value
    else:
        text = _json_number(value)
    unscaled, scale, format_, as_written = _parse(text)
    return as_written if as_written is not None else _canonical(unscaled, scale, format_)


def canonicalise_quantities(obj: dict) -> dict:
    """A copy of a RayCluster/RayService/RayJob where every Quantity-typed field holds its canonical text.

    Values that are not quantities stay as written: the CRD's pattern makes them validate's finding.
    """
    return _walk(obj, ("", ""))


# --- which fields KubeRay treats as quantities ----------------------------------------------------
#
# KubeRay decides "new cluster" by a hash of the RayClusterSpec Go struct, serialised by encoding/json:
#   v1.1.1 ray-operator/controllers/ray/rayservice_controller.go:1190 generateHashWithoutReplicasAndWorkersToDelete
#          → utils/util.go:507 GenerateJsonHash (json.Marshal, sha1);
#   v1.7.0 ray-operator/controllers/ray/utils/util.go:645 GenerateHashWithoutReplicasAndWorkersToDelete
#          → util.go:631 GenerateJsonHash.
# json.Marshal prints a resource.Quantity with Quantity.MarshalJSON (canonical text), and a plain string as
# written. So only fields whose Go type is Quantity compare canonically:
# - corev1.ResourceRequirements.requests/limits (ResourceList) of every container, of the pod-level
#   `resources`, of volumeClaimTemplates, and of autoscalerOptions.resources (*corev1.ResourceRequirements:
#   v1.1.1 apis/ray/v1/raycluster_types.go:80, v1.7.0 :499; v1.7.0 historyServer collector :290 too);
# - PodSpec.overhead (ResourceList) and EmptyDirVolumeSource.sizeLimit (*Quantity).
# Not canonical, because KubeRay hashes them as map[string]string:
# - rayStartParams (v1.1.1 raycluster_types.go:41 and :63, v1.7.0 :399 and :476): "num-cpus: '1'" and
#   "num-cpus: '1.0'" give two hashes, so a new cluster;
# - the group-level `resources` map of v1.7.0 (raycluster_types.go:391 head, :468 workers). KubeRay parses
#   it with resource.ParseQuantity only while building the pod (common/pod.go updateRayStartParamsResources;
#   pod.go:1394-1455 derives num-cpus/memory/num-gpus from container resources the same way), but the hash
#   is of the spec, where it is the string as written: "CPU: '1'" → "CPU: '1000m'" is still a new cluster.

def _holds_quantities(grandparent: str, parent: str, key: str) -> bool:
    """Is the field `key`, inside `parent` inside `grandparent`, of Go type resource.Quantity?"""
    return ((grandparent == "resources" and parent in ("requests", "limits"))
            or (grandparent == "spec" and parent == "overhead")
            or (parent == "emptyDir" and key == "sizeLimit"))


def _walk(node: Any, parents: tuple[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if _holds_quantities(*parents, key) and isinstance(value, (str, int, float)):
                out[key] = _canonical_or_as_written(value)
            else:
                out[key] = _walk(value, (parents[1], str(key)))
        return out
    if isinstance(node, list):
        return [_walk(item, (parents[1], "[]")) for item in node]
    return node


def _canonical_or_as_written(value: str | int | float) -> Any:
    try:
        return canonical_quantity(value)
    except ValueError:
        return value


# --- parsing: quantity.go ParseQuantity -----------------------------------------------------------

def _json_number(value: Any) -> str:
    """The JSON text of a number as the API server serves it to KubeRay (Go encoding/json)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    if isinstance(value, int) and -_MAX_INT64 - 1 <= value <= _MAX_INT64:
        return str(value)
    number = float(value)   # an integer past int64 is decoded as a float64 (sigs.k8s.io/json)
    if not math.isfinite(number):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    # encoding/json floatEncoder: 'e' format below 1e-6 and from 1e21 on, with "e-07" cleaned to "e-7";
    # Python's repr has the same shortest digits and also uses the exponent form in that range.
    if number != 0 and (abs(number) < 1e-6 or abs(number) >= 1e21):
        return re.sub(r"e-0(\d)$", r"e-\1", repr(number))
    return format(Decimal(repr(number)).normalize(), "f")


def _scan(text: str) -> tuple[bool, str, str, str, str]:
    """parseQuantityString: (positive, value, num, denom, suffix), or ValueError (ErrFormatWrong)."""
    positive, pos, end = True, 0, len(text)
    if end and text[0] in "+-":
        positive, pos = text[0] == "+", 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    value, suffix_start = text[:pos], pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """suffix.go interpret: (base, exponent, format), or ValueError (ErrSuffix)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        exponent = int(suffix[1:])
        if -_MAX_INT64 - 1 <= exponent <= _MAX_INT64:            # strconv.ParseInt(.., 64)
            return 10, (exponent + 2**31) % 2**32 - 2**31, DECIMAL_EXPONENT   # then int32(parsed)
    raise ValueError(f"not a Kubernetes quantity: unknown suffix {suffix!r}")


def _parse(text: str) -> tuple[int, int, str, str | None]:
    """ParseQuantity: (unscaled, scale, format, the text when Go keeps it as written); value = unscaled·10^scale."""
    positive, value, num, denom, suffix = _scan(text)
    base, exponent, format_ = _interpret(suffix)
    sign = 1 if positive else -1
    if text == "0":
        return 0, 0, DECIMAL_SI, text
    # The int64 fast path, which also decides whether the text is kept as written.
    mantissa, scale = 1, 0
    if format_ == BINARY_SI:
        exact = exponent >= 0 and not denom
        mantissa = 1 << exponent if exact else 1
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1 if exact else -1
    else:
        scale, precision = exponent, _MAX_INT64_FACTORS - len(num) - len(denom)
    if precision >= 0 and scale - len(denom) >= _NANO:
        scale -= len(denom)
        shifted = num + denom
        result = int(shifted) * mantissa
        if result <= _MAX_INT64:
            if format_ == BINARY_SI:
                kept = exponent % 10 == 0 and int(shifted) & 0x07 != 0
            else:
                kept = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
            return sign * result, scale, format_, text if kept else None
    # The inf.Dec path: exact, then rounded up to 1n, BinarySI capped at 2^63-1.
    if not any(c in _DIGITS for c in value):
        raise ValueError(f"not a Kubernetes quantity: {text!r}")   # inf.Dec SetString fails: ErrNumeric
    unscaled, scale = int(num + denom), -len(denom)
    if base == 10:
        scale += exponent
    else:
        unscaled <<= exponent
    if unscaled and scale < _NANO:
        drop = _NANO - scale
        unscaled = 1 if drop > len(str(unscaled)) else -(-unscaled // 10**drop)
        scale = _NANO
    if format_ == BINARY_SI:   # here scale <= 0
        if unscaled > _MAX_INT64 * 10**-scale:
            unscaled, scale = _MAX_INT64, 0
        if 0 < unscaled < 10**-scale:
            format_ = DECIMAL_SI
    return sign * unscaled, scale, format_, None


# --- printing: quantity.go CanonicalizeBytes --------------------------------------------------------

def _canonical(unscaled: int, scale: int, format_: str) -> str:
    if unscaled == 0:
        return "0"
    sign, magnitude = ("-" if unscaled < 0 else ""), abs(unscaled)
    if format_ == BINARY_SI:
        whole, rest = (magnitude * 10**scale, 0) if scale >= 0 else divmod(magnitude, 10**-scale)
        if whole < 1024 or rest:   # below 1024 in magnitude, or fractional: printed as DecimalSI
            format_ = DECIMAL_SI
        else:
            times = 0
            while whole >= 1024 and whole % 1024 == 0:
                whole, times = whole // 1024, times + 1
            return f"{sign}{whole}{_BINARY_SUFFIX_OF.get(times, '')}"
    while magnitude >= 10 and magnitude % 10 == 0:
        magnitude, scale = magnitude // 10, scale + 1
    down = scale % 3   # down to a multiple of 3 (Python's % is never negative)
    magnitude, scale = magnitude * 10**down, scale - down
    if format_ == DECIMAL_EXPONENT:
        suffix = f"e{scale}" if scale else ""
    else:
        suffix = _DECIMAL_SUFFIX_OF.get(scale, "")   # constructBytes finds none past E: none is printed
    return f"{sign}{magnitude}{suffix}"
