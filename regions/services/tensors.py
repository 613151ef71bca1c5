"""Checking and converting request inputs against a model's input schema (400, never 500)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import InvalidInput

__all__ = ["as_batch", "check_tensor", "output_list"]


@lru_cache(maxsize=64)
def _dtype(name: str) -> np.dtype:
    return np.dtype(name)  # ~1 us per call uncached: twice a request


def check_tensor(array: np.ndarray, *, dtype: str, shape: list[int]) -> None:
    """Refuse a tensor whose dtype or shape the model does not take."""
    if dtype and array.dtype != _dtype(dtype):
        raise InvalidInput(f"Input dtype {array.dtype.name} does not match the model's {dtype}.",
                           details={"expected_dtype": dtype, "got_dtype": array.dtype.name})
    if shape:
        fits = array.ndim == len(shape) and all(want in (-1, None) or want == got
                                                for want, got in zip(shape, array.shape))
        if not fits:
            raise InvalidInput(f"Input shape {list(array.shape)} does not match the model's {shape} "
                               "(-1 means any size).",
                               details={"expected_shape": shape, "got_shape": list(array.shape)})


def as_batch(inputs: Any, *, dtype: str, shape: list[int]) -> np.ndarray:
    """JSON inputs (a list of rows) as an array of the model's dtype and shape."""
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("inputs must be a non-empty list of rows.")
    try:
        array = np.asarray(inputs, dtype=_dtype(dtype or "float32"))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"inputs are not a rectangular array of numbers: {exc}") from exc
    if array.ndim == 1 and shape and len(shape) == 2:
        array = array.reshape(1, -1)  # one row given without the batch dimension
    if not np.all(np.isfinite(array)) if array.dtype.kind == "f" else False:
        raise InvalidInput("inputs contain NaN or infinity.")
    check_tensor(array, dtype=dtype or array.dtype.name, shape=shape)
    return np.ascontiguousarray(array)


def output_list(output: np.ndarray) -> list:
    """Predictions as JSON: one value per row when the model has a single output column."""
    if output.ndim == 2 and output.shape[1] == 1:
        output = output[:, 0]
    return output.tolist()
