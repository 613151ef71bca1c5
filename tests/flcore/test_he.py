"""CKKS aggregation (no processes): the encrypted weighted mean decrypts to FedAvg, screening
checks what a ciphertext shows, the aggregator cannot decrypt, the HE ClientApp round-trips."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from flcore import he
from flcore.demo.data import write_digits_partitions
from flcore.runtime import he_app
from flcore.runtime.encrypted import Encryption
from flcore.runtime.model import initial_arrays
from flcore.strategies.fedavg import WeightedFedAvg

SPEC = {"input-dim": 64, "num-classes": 10, "hidden-dim": 64, "seed": 0}  # the digits MLP: 4,810 values
PARAMS = he.HEParams()
MODEL = {key: array.numpy() for key, array in initial_arrays(SPEC).items()}


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity.task_id = TaskIdentity.run_id = TaskIdentity.node_id = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return he.create_context(PARAMS)


def _encryption(public: bytes) -> Encryption:
    return Encryption(public_context=public, layout=he.Layout.of(MODEL, PARAMS.slots), context_id="x")


def _reply(node: int, chunks: dict[str, np.ndarray], examples: int) -> Message:
    instruction = Message(RecordDict(), dst_node_id=node, message_type=MessageType.TRAIN)
    content = RecordDict({"arrays": ArrayRecord({k: Array.from_numpy_ndarray(v) for k, v in chunks.items()}),
                          "metrics": MetricRecord({"num-examples": examples, "train-loss": float(node)})})
    return Message(content, reply_to=instruction)


def test_the_decrypted_aggregate_is_fedavg_of_the_plaintext_updates(keys) -> None:
    secret, public = he.load_context(keys[0]), keys[1]
    encryption = _encryption(public)
    rng = np.random.default_rng(0)
    updates = [{k: rng.normal(0, 1, a.shape).astype(np.float32) for k, a in MODEL.items()}
               for _ in range(3)]
    examples = [120, 300, 57]
    replies = [_reply(i + 1, he.encrypt(secret, u, encryption.layout), n) for i, (u, n) in enumerate(
        zip(updates, examples, strict=True))]
    kept, rejected = encryption.screen(replies)
    assert len(kept) == 3 and not rejected
    arrays, metrics = encryption.aggregate_train(WeightedFedAvg(), 1, kept)
    assert he.is_encrypted(arrays) and all(a.dtype == "uint8" for a in arrays.values())
    mean = he.decrypt(secret, {k: a.numpy() for k, a in arrays.items()}, encryption.layout)
    for key in updates[0]:
        expected = sum(n * u[key].astype(np.float64) for u, n in zip(updates, examples, strict=True)) / sum(examples)
        np.testing.assert_allclose(mean[key], expected, atol=1e-3)
        assert mean[key].shape == updates[0][key].shape and mean[key].dtype == np.float32
    assert metrics["train-loss"] == pytest.approx((1 * 120 + 2 * 300 + 3 * 57) / 477)


def test_the_aggregator_holds_no_secret_key(keys) -> None:
    encryption = _encryption(keys[1])
    chunks = he.encrypt(encryption.context, MODEL, encryption.layout)  # it can encrypt
    assert not encryption.context.is_private()
    with pytest.raises(ValueError, match="secret"):
        he.decrypt(encryption.context, chunks, encryption.layout)
    with pytest.raises(ValueError, match="secret context"):
        _ = _encryption(keys[0]).context  # handed the secret one by mistake: refused


def test_screening_rejects_what_is_not_a_ciphertext_of_this_model(keys) -> None:
    secret = he.load_context(keys[0])
    encryption = _encryption(keys[1])
    good = he.encrypt(secret, MODEL, encryption.layout)
    other, _ = he.create_context(PARAMS)
    short = he.encrypt(secret, {"w": np.ones(4096 + 10, np.float32)}, he.Layout.of({"w": np.ones(4096 + 10)}, 4096))
    replies = [
        _reply(1, good, 10),
        _reply(2, {"ckks-0000": good["ckks-0000"]}, 10),  # a chunk missing
        _reply(3, {**good, "ckks-0001": np.frombuffer(b"garbage" * 10, np.uint8)}, 10),
        _reply(4, {**good, "ckks-0001": short["ckks-0001"]}, 10),  # 10 values where 714 are expected
        _reply(5, {**good, "ckks-0000": np.zeros(encryption.max_chunk_bytes + 1, np.uint8)}, 10),
        _reply(6, {**good, "ckks-0000": good["ckks-0000"].astype(np.int16)}, 10),
        _reply(7, he.encrypt(he.load_context(other), MODEL, encryption.layout), 10),
    ]
    kept, rejected = encryption.screen(replies)
    assert [r.metadata.src_node_id for r in kept] == [1, 7]  # another context's ciphertexts parse: see below
    assert "ckks-0000" in rejected[2].reason and "expected 2" in rejected[2].reason
    assert "not a CKKS ciphertext" in rejected[3].reason
    assert rejected[4].reason == "chunk 'ckks-0001' holds 10 values, expected 714"
    assert "bytes, at most" in rejected[5].reason and "expected uint8" in rejected[6].reason
    assert all(r.incompatible for r in rejected.values())


def test_params_are_bounded_for_security_and_one_rescale() -> None:
    he.HEParams().check()
    he.HEParams(16384, (60, 40, 40, 40, 60), 40).check()
    for bad, match in [(he.HEParams(4096), "polyModulusDegree"), (he.HEParams(8192, (60, 60, 60, 60), 40), "218"),
                       (he.HEParams(8192, (60, 60), 40), "3 to 8"), (he.HEParams(8192, (40, 40, 60), 40), "first prime"),
                       (he.HEParams(8192, (60, 40, 60), 70), "globalScaleBits")]:
        with pytest.raises(he.HEConfigError, match=match):
            bad.check()


def test_the_client_app_decrypts_trains_and_encrypts(keys, tmp_path) -> None:
    paths, _ = write_digits_partitions(tmp_path, clients=2)
    encryption = _encryption(keys[1])
    context_dir = tmp_path / "keys"
    context_dir.mkdir()
    (context_dir / "exec-1.tenseal").write_bytes(keys[0])
    run_config = {**SPEC, "local-epochs": 1, "batch-size": 32, "learning-rate": 0.1}
    context = Context(run_id=1, node_id=7, node_config={"data-path": str(paths[0]), "he-context-dir": str(context_dir)},
                      state=RecordDict(), run_config=run_config)
    sent = encryption.prepare(initial_arrays(SPEC))
    config = ConfigRecord({"server-round": 1, "he-context-id": "exec-1", "he-layout": encryption.layout.to_json()})
    train = Message(RecordDict({"arrays": sent, "config": config}), dst_node_id=7, message_type=MessageType.TRAIN)
    reply = he_app.app(message=train, context=context)
    assert not reply.has_error(), reply.error if reply.has_error() else ""
    kept, rejected = encryption.screen([reply])
    assert kept and not rejected
    trained = he.decrypt(he.load_context(keys[0]), {k: a.numpy() for k, a in reply.content["arrays"].items()},
                         encryption.layout)
    assert any(not np.allclose(trained[k], v, atol=1e-3) for k, v in MODEL.items())  # it learnt
    evaluate = Message(RecordDict({"arrays": reply.content["arrays"], "config": config}), dst_node_id=7,
                       message_type=MessageType.EVALUATE)
    metrics = he_app.app(message=evaluate, context=context).content.metric_records["metrics"]
    assert 0 <= metrics["eval-accuracy"] <= 1 and metrics["num-examples"] > 0
