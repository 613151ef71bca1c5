"""Zero-copy reads of Flower ``Array`` bytes, and one-copy packing of results.

Flower stores each array as ``.npy`` bytes; ``Array.numpy()`` copies them out. The
kernel only reads client updates, so a read-only view over the bytes is enough.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from flwr.app import Array, ArrayRecord
from flwr.common.constant import SType

__all__ = ["array_view", "record_view", "to_arrayrecord"]


@lru_cache(maxsize=4096)
def _npy_header(header: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    # Every client sends the same header for the same tensor: parse it (literal_eval,
    # ~0.2 ms) once, not once per client and tensor.
    buf = io.BytesIO(header)
    version = np.lib.format.read_magic(buf)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(buf)
    return shape, fortran, dtype, math.prod(shape)


def array_view(array: Array) -> np.ndarray:
    """Read-only ndarray over an ``Array``'s ``.npy`` bytes, without copying them."""
    data = array.data
    if array.stype != SType.NUMPY or data[:6] != b"\x93NUMPY" or data[6] not in (1, 2):
        return array.numpy()  # Flower's own reader (and its errors) for anything unusual
    size_bytes = 2 if data[6] == 1 else 4
    end = 8 + size_bytes + int.from_bytes(data[8 : 8 + size_bytes], "little")
    shape, fortran, dtype, count = _npy_header(data[:end])
    if dtype.hasobject:  # never unpickle client data; let Flower refuse it
        return array.numpy()
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=end)
    return flat.reshape(shape, order="F" if fortran else "C")


def record_view(record: ArrayRecord) -> dict[str, np.ndarray]:
    """Zero-copy views of every array of an ``ArrayRecord``, in its key order."""
    return {name: array_view(array) for name, array in record.items()}


def to_arrayrecord(arrays: dict[str, np.ndarray]) -> ArrayRecord:
    """Pack arrays as ``.npy`` bytes with one copy each; empties ``arrays`` as it goes.

    ``np.save`` into a BytesIO costs two copies (write, then ``getvalue``); joining
    the header with the array's buffer costs one, and releasing each accumulator
    right after keeps the peak at one model plus one tensor.
    """
    record = ArrayRecord()
    for name in list(arrays):
        value = np.ascontiguousarray(arrays.pop(name))
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(value))
        data = b"".join((header.getvalue(), value.data if value.size else b""))
        record[name] = Array(dtype=str(value.dtype), shape=tuple(value.shape), stype=SType.NUMPY, data=data)
    return record
