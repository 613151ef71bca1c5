"""What CKKS homomorphic encryption costs per round: bytes per update, and the server's aggregation time.

Plaintext side: a float32 update as the server receives it (its bytes) and fedplane's
``weighted_average`` (what ``KernelAggregation`` runs for FedAvg). Encrypted side: what
``flcore.runtime.encrypted.Encryption`` does with the same updates: the serialized ciphertext
chunks (their bytes), and ``flcore.he.weighted_sum`` under the public context: parse each
client's chunks, multiply by its plaintext share, add, serialize the result. Client-side
encryption and decryption of one update are timed too, and the decrypted aggregate is compared
with the plaintext one. Times are the best of ``--repeats`` runs (the VM is shared).

    python bench/he_aggregation/run.py [--clients 2,5,10,20] [--models digits,mnist] [--poly 8192]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere in the repo

from flcore import he  # noqa: E402
from flcore.strategies.aggregate import weighted_average  # noqa: E402

# fedplane's MLP (input -> hidden -> classes, torch state-dict names) at two sizes.
MODELS = {"digits": (64, 64, 10), "mnist": (784, 256, 10)}


def model(dims: tuple[int, int, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_in, hidden, out = dims
    shapes = {"0.weight": (hidden, n_in), "0.bias": (hidden,), "2.weight": (out, hidden), "2.bias": (out,)}
    return {k: rng.normal(0, 0.1, s).astype(np.float32) for k, s in shapes.items()}


def best(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="2,5,10,20")
    parser.add_argument("--models", default="digits,mnist")
    parser.add_argument("--poly", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = he.HEParams(args.poly, (60, 40, 40, 60), 40)
    secret_bytes, public_bytes = he.create_context(params)
    secret, public = he.load_context(secret_bytes), he.load_context(public_bytes)
    print(f"CKKS N={params.poly_modulus_degree} primes={list(params.coeff_mod_bit_sizes)} "
          f"scale=2^{params.global_scale_bits}; public context {len(public_bytes) / 1e6:.2f} MB, "
          f"secret {len(secret_bytes) / 1e6:.2f} MB")
    header = (f"{'model':>7} {'params':>8} {'chunks':>6} {'plain B':>9} {'cipher B':>11} {'x':>5} "
              f"{'enc s':>6} {'dec s':>6} {'N':>3} {'plain agg s':>11} {'HE agg s':>9} {'x':>7} {'max err':>8}")
    print(header)
    rng = np.random.default_rng(0)
    for name in args.models.split(","):
        base = model(MODELS[name], rng)
        layout = he.Layout.of(base, params.slots)
        plain_bytes = sum(a.nbytes for a in base.values())
        enc_s, chunks = best(lambda: he.encrypt(secret, base, layout), args.repeats)
        cipher_bytes = sum(c.nbytes for c in chunks.values())
        dec_s, _ = best(lambda: he.decrypt(secret, chunks, layout), args.repeats)
        counts = [int(c) for c in args.clients.split(",")]
        # Distinct updates (a few, reused round-robin: encryption is the slow part of the set-up).
        updates = [{k: a + rng.normal(0, 0.01, a.shape).astype(np.float32) for k, a in base.items()}
                   for _ in range(min(5, max(counts)))]
        encrypted = [he.encrypt(secret, u, layout) for u in updates]
        for n in counts:
            plain = [updates[i % len(updates)] for i in range(n)]
            cipher = [encrypted[i % len(encrypted)] for i in range(n)]
            examples = [float(50 + 10 * i) for i in range(n)]
            shares = [e / sum(examples) for e in examples]
            plain_s, mean = best(lambda: weighted_average(plain, examples), args.repeats)
            he_s, total = best(lambda: he.weighted_sum(public, cipher, shares, layout), args.repeats)
            decrypted = he.decrypt(secret, total, layout)
            error = max(float(np.abs(decrypted[k] - mean[k]).max()) for k in mean)
            print(f"{name:>7} {layout.size:>8} {len(chunks):>6} {plain_bytes:>9,} {cipher_bytes:>11,} "
                  f"{cipher_bytes / plain_bytes:>5.0f} {enc_s:>6.3f} {dec_s:>6.3f} {n:>3} {plain_s:>11.5f} "
                  f"{he_s:>9.3f} {he_s / plain_s:>7.0f} {error:>8.1e}")


if __name__ == "__main__":
    main()
