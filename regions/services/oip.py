"""Open Inference Protocol v2 tensors: JSON data and the binary tensor data extension."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidInput

__all__ = ["DATATYPES", "datatype_of", "InferRequest", "parse_infer", "encode_infer"]

DATATYPES = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
             "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64", "FP16": "float16",
             "FP32": "float32", "FP64": "float64"}
_BY_NUMPY = {v: k for k, v in DATATYPES.items()}
# Per request, dtypes come from these tables: np.dtype(name) and dtype.name cost microseconds each.
_BY_DTYPE = {np.dtype(v): k for k, v in DATATYPES.items()}  # native byte order
_WIRE = {k: (np.dtype(v).newbyteorder("<"), np.dtype(v)) for k, v in DATATYPES.items()}  # (sent as, held as)


def datatype_of(dtype) -> str:
    """The OIP datatype of a numpy dtype (or its name); BYTES for any other."""
    found = _BY_DTYPE.get(dtype) if isinstance(dtype, np.dtype) else None
    return found or _BY_NUMPY.get(np.dtype(dtype).name, "BYTES")


@dataclass
class InferRequest:
    id: str | None
    tensor: np.ndarray
    input_name: str
    binary_output: bool
    output_name: str | None


def _fail(message: str) -> InvalidInput:
    return InvalidInput(message)


def parse_infer(body: bytes, header_length: int | None) -> InferRequest:
    """The request's single input tensor; InvalidInput (400) for anything malformed."""
    if header_length is not None and not 0 < header_length <= len(body):
        raise _fail("Inference-Header-Content-Length is outside the body.")
    head, binary = (body[:header_length], body[header_length:]) if header_length else (body, b"")
    try:
        request = orjson.loads(head or b"{}")
    except ValueError as exc:
        raise _fail(f"The inference request is not JSON: {exc}") from None
    inputs = request.get("inputs") if isinstance(request, dict) else None
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise _fail("The request must carry exactly one input tensor in 'inputs'.")
    spec = inputs[0]
    datatype, shape = spec.get("datatype"), spec.get("shape")
    if datatype not in DATATYPES:
        raise _fail(f"Unsupported datatype {datatype!r}; supported: {', '.join(DATATYPES)}.")
    if not isinstance(shape, list) or not all(isinstance(d, int) and 0 <= d < 2**31 for d in shape):
        raise _fail("shape must be a list of non-negative integers (each below 2^31).")
    for name, value in (("inputs[0].parameters", spec.get("parameters")), ("parameters", request.get("parameters"))):
        if value is not None and not isinstance(value, dict):  # read with .get below
            raise _fail(f"{name} must be an object.")
    dtype, native = _WIRE[datatype]  # the extension's bytes are little-endian
    size = (spec.get("parameters") or {}).get("binary_data_size")
    count = math.prod(shape)  # Python integers: numpy's product overflows silently past 64 bits
    if count > len(body):
        # Every value takes at least a byte of the body (as JSON or as binary data): a shape asking for more
        # is refused before numpy is asked to make room for it.
        raise _fail(f"shape {shape} needs {count} values, more than the request carries.")
    if size is not None:
        if size != len(binary) or size != count * dtype.itemsize:
            raise _fail(f"binary_data_size {size} does not fit shape {shape} of {datatype} "
                        f"({count * dtype.itemsize} bytes) or the {len(binary)} bytes sent.")
        tensor = np.frombuffer(binary, dtype=dtype).reshape(shape).astype(native)
    else:
        try:
            tensor = np.asarray(spec.get("data"), dtype=native)
        except (TypeError, ValueError) as exc:
            raise _fail(f"data is not {datatype}: {exc}") from None
        if tensor.size != count:
            raise _fail(f"data holds {tensor.size} values; shape {shape} needs {count}.")
        tensor = tensor.reshape(shape)
    outputs = request.get("outputs") or []
    if not isinstance(outputs, list):
        raise _fail("outputs must be a list.")
    wanted = outputs[0] if outputs and isinstance(outputs[0], dict) else {}
    if not isinstance(wanted.get("parameters") or {}, dict):
        raise _fail("outputs[0].parameters must be an object.")
    binary_output = bool((wanted.get("parameters") or {}).get("binary_data",
                                                              (request.get("parameters") or {}).get(
                                                                  "binary_data_output", False)))
    return InferRequest(id=request.get("id"), tensor=np.ascontiguousarray(tensor), input_name=spec.get("name", ""),
                        binary_output=binary_output, output_name=wanted.get("name"))


def encode_infer(*, model_name: str, version: str, request_id: str | None, output: np.ndarray,
                 output_name: str, binary: bool) -> tuple[bytes, int | None]:
    """Response body, and the JSON header's length when the tensor travels as binary."""
    output = np.ascontiguousarray(output)
    tensor: dict[str, Any] = {"name": output_name, "datatype": datatype_of(output.dtype),
                              "shape": list(output.shape)}
    raw = b""
    if binary:
        little = _WIRE.get(_BY_DTYPE.get(output.dtype, ""), (output.dtype.newbyteorder("<"),))[0]
        raw = output.astype(little, copy=False).tobytes()
        tensor["parameters"] = {"binary_data_size": len(raw)}
    else:
        tensor["data"] = output.reshape(-1).tolist()
    body: dict[str, Any] = {"model_name": model_name, "model_version": version, "outputs": [tensor]}
    if request_id is not None:
        body["id"] = request_id
    head = orjson.dumps(body)
    return (head + raw, len(head)) if binary else (head, None)
