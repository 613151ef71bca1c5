"""Ten clients train fedplane's model on the digits; one sends large random arrays every round.

FedAvg's model collapses; the Byzantine-robust strategies, built by name as an execution
names them, keep at least 90% of the clean run's accuracy. Real training (fedplane's numpy
trainer) and Flower's own strategies on real ``Message`` replies; no Django, no processes.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from flcore.runtime import numpy_app
from flcore.runtime.screening import screen
from flcore.strategies import build_strategy
from tests.support.hostile_app import GARBAGE_SCALE

CLIENTS, ROUNDS = 10, 8
RUN_CONFIG = {"input-dim": 64, "num-classes": 10, "hidden-dim": 32, "seed": 0, "local-epochs": 3, "batch-size": 16,
              "learning-rate": 0.1, "proximal-mu": 0.0}
SAMPLING = {"min_train_nodes": CLIENTS, "min_available_nodes": CLIENTS}


class TenNodes:
    def get_node_ids(self) -> list[int]:
        return list(range(1, CLIENTS + 1))


@pytest.fixture(autouse=True, scope="module")
def task_identity() -> Iterator[None]:
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity.task_id = TaskIdentity.run_id = TaskIdentity.node_id = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def digits() -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)
    order = np.random.default_rng(1).permutation(len(y))
    test, train = order[:360], order[360:]
    return [(x[part], y[part]) for part in np.array_split(train, CLIENTS)], (x[test], y[test])


def _initial() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    h, d, c = RUN_CONFIG["hidden-dim"], RUN_CONFIG["input-dim"], RUN_CONFIG["num-classes"]
    return {"0.weight": (rng.normal(size=(h, d)) / np.sqrt(d)).astype(np.float32), "0.bias": np.zeros(h, np.float32),
            "2.weight": (rng.normal(size=(c, h)) / np.sqrt(h)).astype(np.float32), "2.bias": np.zeros(c, np.float32)}


def _reply(msg: Message, params: dict[str, np.ndarray], examples: int, loss: float) -> Message:
    content = RecordDict({"arrays": ArrayRecord({k: Array(v) for k, v in params.items()}),
                          "metrics": MetricRecord({"num-examples": examples, "train-loss": loss})})
    return Message(content, reply_to=msg)


def _train(algorithm: str, options: dict, digits, *, hostile: bool) -> float:
    """Held-out accuracy after ROUNDS rounds; node 1 sends garbage when ``hostile``."""
    shards, (x_test, y_test) = digits
    strategy = build_strategy(algorithm, options={**SAMPLING, **options})
    arrays = ArrayRecord({k: Array(v) for k, v in _initial().items()})
    rng = np.random.default_rng(7)
    for rnd in range(1, ROUNDS + 1):
        replies = []
        for msg in strategy.configure_train(rnd, arrays, ConfigRecord(), TenNodes()):
            node = msg.metadata.dst_node_id
            params = {k: a.numpy().copy() for k, a in msg.content["arrays"].items()}
            x, y = shards[node - 1]
            loss, _ = numpy_app.train(params, x, y, {**RUN_CONFIG, "server-round": rnd})
            if hostile and node == 1:
                params = {k: (rng.normal(size=v.shape) * GARBAGE_SCALE).astype(np.float32) for k, v in params.items()}
            replies.append(_reply(msg, params, len(y), loss))
        kept, rejected = screen(replies, arrays)
        assert not rejected  # garbage is finite and well-formed: screening is not what saves the model
        arrays, _ = strategy.aggregate_train(rnd, kept)
    final = {k: a.numpy() for k, a in arrays.items()}
    return numpy_app.evaluate(final, x_test, y_test)[1]


@pytest.fixture(scope="module")
def clean_accuracy(digits) -> float:
    accuracy = _train("fedavg", {}, digits, hostile=False)
    assert accuracy > 0.85  # the setting learns: the comparison below means something
    return accuracy


def test_fedavg_collapses_under_one_garbage_client(digits, clean_accuracy) -> None:
    accuracy = _train("fedavg", {}, digits, hostile=True)
    print(f"fedavg: {accuracy:.3f} with a garbage client, clean {clean_accuracy:.3f}")
    assert accuracy < 0.5 * clean_accuracy


@pytest.mark.parametrize(("algorithm", "options"), [
    ("krum", {"num_malicious_nodes": 1}),
    ("multikrum", {"num_malicious_nodes": 1, "num_nodes_to_select": 5}),
    ("fedmedian", {}),
    ("fedtrimmedavg", {"beta": 0.2}),
    ("bulyan", {"num_malicious_nodes": 1}),
])
def test_robust_strategies_keep_90_percent_of_the_clean_accuracy(algorithm, options, digits, clean_accuracy) -> None:
    accuracy = _train(algorithm, options, digits, hostile=True)
    print(f"{algorithm}: {accuracy:.3f} with a garbage client, clean FedAvg {clean_accuracy:.3f}")
    assert accuracy >= 0.9 * clean_accuracy, (algorithm, accuracy, clean_accuracy)
