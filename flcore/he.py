"""CKKS homomorphic encryption of model weights (TenSEAL): contexts, encryption, the encrypted mean.

A model (a state dict of float arrays) is flattened in its key order into one vector and cut
into chunks of ``slots`` (half the polynomial modulus degree) values; each chunk is one CKKS
ciphertext, serialized to bytes and carried as a uint8 array named ``ckks-0000``,
``ckks-0001``, ... The layout (each tensor's name, shape and dtype) travels in the clear.

Who holds what: ``create_context`` makes a secret context (clients: encrypt and decrypt) and
a public one (the aggregator: encrypt the initial model, add ciphertexts, multiply them by
plaintext weights). The public one cannot decrypt. Plain Python: no Django, no Flower;
TenSEAL is imported only here, when encryption is used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HEConfigError", "HEParams", "Layout", "CHUNK_PREFIX", "create_context", "load_context",
           "encrypt", "decrypt", "weighted_sum", "check_chunks", "is_encrypted"]

CHUNK_PREFIX = "ckks-"
# The largest total coefficient modulus (bits) that keeps 128-bit security for each ring size
# (HomomorphicEncryption.org standard, as SEAL enforces it).
MAX_MODULUS_BITS = {8192: 218, 16384: 438, 32768: 881}


class HEConfigError(ValueError):
    """CKKS parameters that are insecure, unusable, or cannot carry one weighted sum."""


@dataclass(frozen=True)
class HEParams:
    """CKKS parameters. One rescale is spent per round (weights times plaintext shares), so
    the chain needs at least one middle prime; values of about 1 keep ~1e-6 precision at 2^40."""

    poly_modulus_degree: int = 8192
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 40, 40, 60)
    global_scale_bits: int = 40

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    def check(self) -> None:
        """Raise ``HEConfigError`` naming the first problem."""
        limit = MAX_MODULUS_BITS.get(self.poly_modulus_degree)
        if limit is None:
            raise HEConfigError(f"polyModulusDegree must be one of {sorted(MAX_MODULUS_BITS)}")
        bits = self.coeff_mod_bit_sizes
        if not 3 <= len(bits) <= 8 or any(not 20 <= b <= 60 for b in bits):
            raise HEConfigError("coeffModBitSizes needs 3 to 8 primes of 20 to 60 bits")
        if sum(bits) > limit:
            raise HEConfigError(f"coeffModBitSizes total {sum(bits)} bits; polyModulusDegree "
                                f"{self.poly_modulus_degree} allows {limit} at 128-bit security")
        if not 20 <= self.global_scale_bits <= 60:
            raise HEConfigError("globalScaleBits must be 20 to 60")
        # After the rescale only the first prime is left: it must hold the scale and the value's integer part.
        if bits[0] <= self.global_scale_bits or any(b < self.global_scale_bits for b in bits[1:-1]):
            raise HEConfigError("the first prime must exceed globalScaleBits and the middle ones reach it")

    def to_dict(self) -> dict[str, Any]:
        return {"polyModulusDegree": self.poly_modulus_degree, "coeffModBitSizes": list(self.coeff_mod_bit_sizes),
                "globalScaleBits": self.global_scale_bits}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HEParams:
        default = cls()
        return cls(int(data.get("polyModulusDegree", default.poly_modulus_degree)),
                   tuple(int(b) for b in data.get("coeffModBitSizes", default.coeff_mod_bit_sizes)),
                   int(data.get("globalScaleBits", default.global_scale_bits)))


@dataclass(frozen=True)
class Layout:
    """Names, shapes and dtypes of the model's tensors, in order: how a flat vector is cut back."""

    tensors: tuple[tuple[str, tuple[int, ...], str], ...]
    slots: int = 4096  # values per ciphertext: half the ring's degree

    @classmethod
    def of(cls, arrays: Mapping[str, np.ndarray], slots: int) -> Layout:
        return cls(tuple((k, tuple(np.shape(a)), str(np.asarray(a).dtype)) for k, a in arrays.items()), slots)

    @property
    def size(self) -> int:
        return sum(math.prod(shape) for _, shape, _ in self.tensors)

    def chunk_sizes(self) -> list[int]:
        """Values per ciphertext."""
        full, rest = divmod(self.size, self.slots)
        return [self.slots] * full + ([rest] if rest else [])

    def chunk_names(self) -> list[str]:
        return [f"{CHUNK_PREFIX}{i:04d}" for i in range(len(self.chunk_sizes()))]

    def to_json(self) -> str:
        return json.dumps({"slots": self.slots, "tensors": [[k, list(s), d] for k, s, d in self.tensors]})

    @classmethod
    def from_json(cls, text: str) -> Layout:
        data = json.loads(text)
        return cls(tuple((str(k), tuple(int(n) for n in s), str(d)) for k, s, d in data["tensors"]),
                   int(data["slots"]))


def create_context(params: HEParams) -> tuple[bytes, bytes]:
    """(secret context, public context) as bytes. The public one holds the public key only: it can
    encrypt and add and multiply by plaintexts, never decrypt (no secret, relin or Galois keys)."""
    import tenseal as ts

    params.check()
    context = ts.context(ts.SCHEME_TYPE.CKKS, params.poly_modulus_degree,
                         coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes))
    context.global_scale = 2.0 ** params.global_scale_bits
    secret = context.serialize(save_public_key=True, save_secret_key=True, save_galois_keys=False,
                               save_relin_keys=False)
    public = context.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=False,
                               save_relin_keys=False)
    return secret, public


def load_context(data: bytes):
    """A TenSEAL context from ``create_context``'s bytes."""
    import tenseal as ts

    return ts.context_from(data)


def is_encrypted(arrays: Mapping[str, Any]) -> bool:
    """Whether a model's arrays are ciphertext chunks."""
    return bool(arrays) and all(str(k).startswith(CHUNK_PREFIX) for k in arrays)


def encrypt(context, arrays: Mapping[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    """The model as ciphertext chunks (uint8 arrays of serialized CKKS vectors)."""
    import tenseal as ts

    flat = np.concatenate([np.asarray(arrays[k], dtype=np.float64).reshape(-1) for k, _, _ in layout.tensors])
    if flat.size != layout.size:
        raise ValueError(f"{flat.size} values, the layout has {layout.size}")
    chunks, start = {}, 0
    for name, size in zip(layout.chunk_names(), layout.chunk_sizes(), strict=True):
        vector = ts.ckks_vector(context, flat[start:start + size].tolist())
        chunks[name] = np.frombuffer(vector.serialize(), dtype=np.uint8)
        start += size
    return chunks


def _vectors(context, chunks: Mapping[str, np.ndarray], layout: Layout) -> list:
    import tenseal as ts

    return [ts.ckks_vector_from(context, np.asarray(chunks[name], dtype=np.uint8).tobytes())
            for name in layout.chunk_names()]


def decrypt(context, chunks: Mapping[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    """The model back from its chunks (needs the secret context)."""
    flat = np.concatenate([np.asarray(v.decrypt(), dtype=np.float64) for v in _vectors(context, chunks, layout)])
    arrays, start = {}, 0
    for key, shape, dtype in layout.tensors:
        count = math.prod(shape)
        arrays[key] = flat[start:start + count].reshape(shape).astype(dtype)
        start += count
    return arrays


def weighted_sum(context, updates: Sequence[Mapping[str, np.ndarray]], weights: Sequence[float],
                 layout: Layout) -> dict[str, np.ndarray]:
    """sum_i weights[i] * update_i, computed on ciphertexts with plaintext weights (public context)."""
    total = None
    for update, weight in zip(updates, weights, strict=True):
        scaled = [vector * float(weight) for vector in _vectors(context, update, layout)]
        total = scaled if total is None else [a + b for a, b in zip(total, scaled, strict=True)]
    if total is None:
        raise ValueError("no updates to add")
    return {name: np.frombuffer(v.serialize(), dtype=np.uint8) for name, v in zip(layout.chunk_names(), total,
                                                                                    strict=True)}


def check_chunks(context, chunks: Mapping[str, Any], layout: Layout, max_bytes: int) -> str | None:
    """What the aggregator can check without the secret key: the chunk names, that each is uint8,
    at most ``max_bytes``, parses as a CKKS vector of this context and holds the expected number
    of values. None when it passes; otherwise the reason."""
    import tenseal as ts

    names = layout.chunk_names()
    if sorted(chunks) != names:
        return f"ciphertext chunks {sorted(chunks)[:4]}..., expected {len(names)} named {names[0]}.."
    for name, size in zip(names, layout.chunk_sizes(), strict=True):
        data = np.asarray(chunks[name])
        if data.dtype != np.uint8 or data.ndim != 1:
            return f"chunk {name!r} is {data.dtype} of {data.ndim} dimension(s), expected uint8 bytes"
        if data.size > max_bytes:
            return f"chunk {name!r} has {data.size} bytes, at most {max_bytes} expected"
        try:
            vector = ts.ckks_vector_from(context, data.tobytes())
        except Exception as err:  # noqa: BLE001 -- bytes that do not parse are the client's fault
            return f"chunk {name!r} is not a CKKS ciphertext of this context: {err}"
        if vector.size() != size:
            return f"chunk {name!r} holds {vector.size()} values, expected {size}"
    return None
