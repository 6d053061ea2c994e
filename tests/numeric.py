"""The one float tolerance for numbers computed on this CPU against committed or documented ones.

Flow: CROSS_CPU_ATOL (why it is what it is: below) -> `json_differences(expected, actual)`:
structure, ints, strings and bools exactly, floats within it -> `tensor_differences(expected,
actual)`: same names, shapes and dtypes, values within it. Each returns readable lines; empty
means a match.

float32 results are not bit-identical across CPUs: MKL, oneDNN and ATen pick different vector
kernels (AVX-512, AVX2, SSE, scalar), which sum in different orders. fixtures/README.md
("Numeric tolerance") lists what was measured; tests/test_cpu_kernels.py reruns the numeric tests
under other kernel settings so that a CPU-dependent expectation cannot come back unnoticed.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

# Largest difference measured against the committed/documented numbers over 12 MKL / oneDNN /
# ATen settings (default AVX-512, AVX2, SSE4.2, MKL_CBWR=COMPATIBLE, scalar ATen), batch sizes 1 to
# 96, 1 or 2 threads, torch 2.13 and 2.14: 3.8e-6 (digits logits, |x| <= 23: 2 float32 ulps;
# CIFAR logits 1.4e-6; pipeline softmax scores 1.2e-7). Rebuilding the fixtures with scalar ATen
# kernels moves the float64-trained, float32-cast weights by up to 3.3e-6. 1e-4 is about 25x the
# largest, for CPUs not measured here, and still 1000x below the smallest top-1/top-2 logit gap of
# either fixture model on its test set (0.12), so a real model change cannot hide inside it.
CROSS_CPU_ATOL = 1e-4


def json_differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences between two parsed JSON documents, both sides strict (no subset matching).

    Args:
        expected: the committed document.
        actual: the one computed here.
        path: where this node sits, for messages.

    Returns:
        One `path: ...` line per difference: keys, list lengths, types and non-float values must
        be equal; floats may differ by CROSS_CPU_ATOL.
    """
    if isinstance(expected, float) and isinstance(actual, float):
        if abs(expected - actual) <= CROSS_CPU_ATOL:
            return []
        return [f"{path}: {expected!r} vs {actual!r} (|diff| {abs(expected - actual):.3g} > {CROSS_CPU_ATOL:g})"]
    if type(expected) is not type(actual):
        return [f"{path}: {type(expected).__name__} vs {type(actual).__name__}"]
    if isinstance(expected, dict):
        if expected.keys() != actual.keys():
            return [f"{path}: keys {sorted(expected)} vs {sorted(actual)}"]
        return [d for key in expected for d in json_differences(expected[key], actual[key], f"{path}.{key}")]
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items vs {len(actual)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in json_differences(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: {expected!r} vs {actual!r}"]


def tensor_differences(expected: Mapping[str, torch.Tensor], actual: Mapping[str, torch.Tensor]) -> list[str]:
    """Differences between two state_dicts: names, shapes and dtypes exactly, values within tolerance.

    Args:
        expected: the committed model's tensors by name.
        actual: the rebuilt model's tensors by name.

    Returns:
        One line per difference; empty when they match.
    """
    if expected.keys() != actual.keys():
        return [f"tensor names {sorted(expected)} vs {sorted(actual)}"]
    diffs = []
    for name, e in expected.items():
        a = actual[name]
        if (e.shape, e.dtype) != (a.shape, a.dtype):
            diffs.append(f"{name}: {tuple(e.shape)} {e.dtype} vs {tuple(a.shape)} {a.dtype}")
            continue
        worst = float((e.double() - a.double()).abs().max()) if e.numel() else 0.0
        if worst > CROSS_CPU_ATOL:
            diffs.append(f"{name}: max |diff| {worst:.3g} > {CROSS_CPU_ATOL:g}")
    return diffs
