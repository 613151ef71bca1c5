"""fedplane strategies against Flower 1.41's own, on real ``Message`` replies (no Django)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import (Bulyan, FedAdagrad, FedAdam, FedAvg, FedAvgM, FedMedian, FedProx, FedTrimmedAvg,
                                    FedYogi, Krum, MultiKrum, QFedAvg, Strategy)
from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords
from flwr.supercore.task_identity import TaskIdentity

from flcore.strategies import (AggregationMismatch, InvalidStrategyOptions, PluginLoadError, UnknownStrategy,
                               WeightedFedAvg, array_view, build_strategy, record_view, restore_strategy_state,
                               strategy_state, weighted_average)  # fmt: skip
from flcore.strategies.catalogue import describe, flower_kwargs, min_updates_of, resolve
from flcore.strategies.errors import TooFewUpdates

NODES = [11, 22, 33]
SHAPES = {"conv.weight": (8, 3, 3, 3), "conv.bias": (8,), "fc.weight": (10, 200), "fc.bias": (10,)}


class FakeGrid:
    """Just enough Grid for ``configure_train``: three connected nodes."""

    def get_node_ids(self) -> list[int]:
        return list(NODES)


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    # Message() reads the process-global task identity the driver normally sets.
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity.task_id = TaskIdentity.run_id = TaskIdentity.node_id = None  # type: ignore[assignment]


def model(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}


def arrayrecord(arrays: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({k: Array(v) for k, v in arrays.items()})


def replies(messages: list[Message], round_seed: int) -> list[Message]:
    """One reply per instruction, shaped like fedplane's ClientApp's (extra ConfigRecord)."""
    out = []
    for i, msg in enumerate(sorted(messages, key=lambda m: m.metadata.dst_node_id)):
        content = RecordDict({
            "arrays": arrayrecord(model(100 * round_seed + i)),
            "metrics": MetricRecord({"num-examples": 10 + 37 * i, "train-accuracy": 0.5 + 0.1 * i, "train-loss": 1.0 / (i + 1)}),
            "fedplane": ConfigRecord({"seconds": 0.1}),
        })  # fmt: skip
        out.append(Message(content, reply_to=msg))
    return out


def run_rounds(strategy: Strategy, rounds: range, arrays: ArrayRecord) -> tuple[ArrayRecord, MetricRecord | None]:
    metrics = None
    for rnd in rounds:
        messages = list(strategy.configure_train(rnd, arrays, ConfigRecord(), FakeGrid()))
        arrays, metrics = strategy.aggregate_train(rnd, replies(messages, rnd))
        assert arrays is not None
    return arrays, metrics


def assert_same(ours: ArrayRecord, theirs: ArrayRecord) -> None:
    assert list(ours.keys()) == list(theirs.keys())
    for key in theirs:
        a, b = ours[key].numpy(), theirs[key].numpy()
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_kernel_equals_flower_aggregation_bit_for_bit() -> None:
    contents = [RecordDict({"a": arrayrecord(model(i)), "m": MetricRecord({"num-examples": 3 + i})}) for i in range(7)]
    theirs = aggregate_arrayrecords(contents, "num-examples")
    updates = (record_view(c["a"]) for c in contents)  # a generator: streamed, viewed in place
    ours = weighted_average(updates, [3 + i for i in range(7)], block=64, group=3)  # many blocks, a partial group
    for key, value in theirs.items():
        np.testing.assert_array_equal(ours[key], value.numpy())


@pytest.mark.parametrize("threads", [1, 3])
def test_kernel_threads_split_large_tensors_without_changing_bits(threads: int) -> None:
    rng = np.random.default_rng(5)
    updates = [{"big": rng.normal(size=(700, 1000)).astype(np.float32), "b": rng.normal(size=7)} for _ in range(5)]
    weights = [1.0, 2.0, 3.0, 4.0, 5.0]
    reference = weighted_average(iter(updates), weights, threads=1, block=1 << 20, group=1)
    got = weighted_average(iter(updates), weights, threads=threads, block=1 << 12, group=2)
    for key in reference:
        np.testing.assert_array_equal(got[key], reference[key])


@pytest.mark.parametrize("value", [
    np.arange(12, dtype=np.float32).reshape(3, 4), np.asfortranarray(np.ones((3, 5))), np.array(2.5, np.float16),
    np.arange(4, dtype=">f4"), np.array([[True, False]]), np.zeros((0, 3), np.int64),
])  # fmt: skip
def test_array_view_reads_npy_bytes_in_place(value: np.ndarray) -> None:
    array = Array(value)
    view = array_view(array)
    assert view.dtype == value.dtype and view.shape == value.shape and np.array_equal(view, value)
    assert not view.flags.writeable  # a view over the reply's bytes, not a copy


def test_kernel_dtypes_and_errors() -> None:
    halves = [{"h": np.full(4, v, np.float16), "n": np.array([v * 10], np.int64)} for v in (1.0, 2.0, 4.0)]
    out = weighted_average(iter(halves), [1, 1, 2])
    assert out["h"].dtype == np.float16 and np.allclose(out["h"], 2.75)
    assert out["n"].dtype == np.int64 and out["n"][0] == 28  # 27.5 rounded to even
    with pytest.raises(AggregationMismatch):
        weighted_average(iter(halves), [1, 1])
    with pytest.raises(AggregationMismatch):
        weighted_average([{"h": np.ones(4)}, {"x": np.ones(4)}], [1, 1])
    with pytest.raises(AggregationMismatch):
        weighted_average([{"h": np.ones(4)}, {"h": np.ones(5)}], [1, 1])


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: build_strategy("fedavg"), FedAvg),
        (lambda: build_strategy("fedprox", options={"proximal_mu": 0.1}), lambda: FedProx(proximal_mu=0.1)),
        (lambda: build_strategy("fedopt", options={"optimizer": "adam", "eta": 0.05}), lambda: FedAdam(eta=0.05)),
        (lambda: build_strategy("fedopt", options={"optimizer": "yogi"}), FedYogi),
        (lambda: build_strategy("fedopt", options={"optimizer": "adagrad", "tau": 1e-2}), lambda: FedAdagrad(tau=1e-2)),
        (lambda: build_strategy("fedadam", options={"beta_1": 0.8}), lambda: FedAdam(beta_1=0.8)),
        (lambda: build_strategy("fedavgm", options={"server_momentum": 0.9, "server_learning_rate": 0.5}),
         lambda: FedAvgM(server_momentum=0.9, server_learning_rate=0.5)),
        (lambda: build_strategy("fedmedian"), FedMedian),
        (lambda: build_strategy("fedtrimmedavg", options={"beta": 0.34}), lambda: FedTrimmedAvg(beta=0.34)),
        (lambda: build_strategy("krum"), Krum),
        (lambda: build_strategy("multikrum", options={"num_nodes_to_select": 2}), lambda: MultiKrum(num_nodes_to_select=2)),
        (lambda: build_strategy("bulyan"), Bulyan),
        (lambda: build_strategy("qfedavg", options={"client_learning_rate": 0.1, "q": 0.5, "train_loss_key": "train-loss"}),
         lambda: QFedAvg(client_learning_rate=0.1, q=0.5, train_loss_key="train-loss")),
    ],
    ids=["fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad", "fedadam-beta", "fedavgm", "fedmedian",
         "fedtrimmedavg", "krum", "multikrum", "bulyan", "qfedavg"],
)
def test_equals_flower_strategy_over_rounds(ours, theirs) -> None:
    start = arrayrecord(model(0))
    arrays_ours, metrics_ours = run_rounds(ours(), range(1, 4), start)
    arrays_theirs, metrics_theirs = run_rounds(theirs(), range(1, 4), start)
    assert_same(arrays_ours, arrays_theirs)
    assert dict(metrics_ours) == pytest.approx(dict(metrics_theirs))


def test_fedprox_sends_proximal_mu() -> None:
    strategy = build_strategy("fedprox", options={"proximal_mu": 0.3})
    (msg, *_) = strategy.configure_train(1, arrayrecord(model(0)), ConfigRecord(), FakeGrid())
    assert msg.content["config"]["proximal-mu"] == 0.3


@pytest.mark.parametrize("weights", ["uniform", "performance"])
def test_uniform_and_performance_weights(weights: str) -> None:
    strategy = build_strategy("fedavg", weights=weights)
    messages = list(strategy.configure_train(1, arrayrecord(model(0)), ConfigRecord(), FakeGrid()))
    got, _ = strategy.aggregate_train(1, replies(messages, 1))
    raw = [1.0, 1.0, 1.0] if weights == "uniform" else [0.5, 0.6, 0.7]  # train-accuracy per reply
    w = np.array(raw) / sum(raw)
    assert sorted(strategy.last_weights.values()) == pytest.approx(sorted(w))
    for key in SHAPES:
        expected = sum(wi * model(100 + i)[key].astype(np.float64) for i, wi in enumerate(w))
        np.testing.assert_allclose(got[key].numpy(), expected, atol=1e-6)


def test_registry_options_plugins_and_errors() -> None:
    s = build_strategy("fedopt", options={"optimizer": "yogi", "eta": 0.2, "beta_1": 0.8, "fraction_train": 0.5})
    assert type(s).__name__ == "WeightedFedYogi" and (s.eta, s.beta_1, s.fraction_train) == (0.2, 0.8, 0.5)
    plugins = {"median": "flwr.serverapp.strategy:FedMedian", "mine": "flcore.strategies.WeightedFedAvg"}
    assert isinstance(build_strategy("median", options={"min_train_nodes": 3}, plugins=plugins), FedMedian)
    mine = build_strategy("mine", weights="uniform", plugins=plugins)
    assert isinstance(mine, WeightedFedAvg) and mine.weighting.name == "uniform"
    with pytest.raises(UnknownStrategy) as err:
        build_strategy("scaffold", plugins=plugins)
    assert {"fedavg", "fedopt", "fedprox", "krum", "median", "mine"} <= set(err.value.known)
    with pytest.raises(InvalidStrategyOptions):
        build_strategy("fedavg", options={"eta": 0.1})
    with pytest.raises(InvalidStrategyOptions):
        build_strategy("fedopt", options={"optimizer": "sgd"})
    with pytest.raises(InvalidStrategyOptions):
        build_strategy("fedavg", weights="loudest")
    with pytest.raises(PluginLoadError):
        build_strategy("bad", plugins={"bad": "collections:OrderedDict"})
    with pytest.raises(PluginLoadError):
        build_strategy("bad", plugins={"bad": "no.such.module:Thing"})


@pytest.mark.parametrize(("algorithm", "options", "fields"), [
    ("fedopt", {"optimizer": "adam", "eta": 0.05}, {"current_arrays", "m_t", "v_t"}),
    ("fedopt", {"optimizer": "yogi", "eta": 0.05}, {"current_arrays", "m_t", "v_t"}),
    ("fedadagrad", {"eta": 0.05}, {"current_arrays", "m_t", "v_t"}),
    ("fedavgm", {"server_momentum": 0.9}, {"momentum_vector"}),
], ids=["adam", "yogi", "adagrad", "fedavgm"])
def test_resume_from_saved_state_equals_uninterrupted_run(algorithm: str, options: dict, fields: set) -> None:
    def build() -> Strategy:
        return build_strategy(algorithm, options=options)

    start = arrayrecord(model(0))
    uninterrupted, _ = run_rounds(build(), range(1, 4), start)

    first = build()
    after_two, _ = run_rounds(first, range(1, 3), start)
    buffer = io.BytesIO()
    np.savez(buffer, **strategy_state(first))  # what a checkpoint stores beside the model
    buffer.seek(0)
    with np.load(buffer) as saved:
        state = dict(saved)
    assert {k.split("/")[0] for k in state} == fields

    resumed = build()
    restore_strategy_state(resumed, state)
    after_three, _ = run_rounds(resumed, range(3, 4), after_two)
    for key in uninterrupted:
        np.testing.assert_array_equal(after_three[key].numpy(), uninterrupted[key].numpy())

    cold, _ = run_rounds(build(), range(3, 4), after_two)  # without the state it differs
    assert not np.allclose(cold["fc.weight"].numpy(), uninterrupted["fc.weight"].numpy())


def test_state_of_another_strategy_is_left_out() -> None:
    """An execution that switched strategies between runs starts the new optimiser afresh."""
    adam = build_strategy("fedadam")
    run_rounds(adam, range(1, 2), arrayrecord(model(0)))
    momentum = build_strategy("fedavgm", options={"server_momentum": 0.9})
    restore_strategy_state(momentum, strategy_state(adam))
    assert momentum.momentum_vector is None


def test_catalogue_checks_api_options() -> None:
    spec = resolve("krum")
    assert flower_kwargs(spec, {"numMaliciousNodes": 2}) == {"num_malicious_nodes": 2}
    assert min_updates_of(spec, {"num_malicious_nodes": 2}) == 7  # n > 2f + 2
    assert min_updates_of(resolve("bulyan"), {"num_malicious_nodes": 1}) == 7  # n >= 4f + 3
    assert min_updates_of(resolve("multikrum"), {"num_malicious_nodes": 0, "num_nodes_to_select": 5}) == 5
    assert resolve("fedopt", "yogi").name == "fedyogi"
    for options, field in [({"numMaliciousNodes": -1}, "numMaliciousNodes"), ({"numMaliciousNodes": 1.5}, "numMaliciousNodes"),
                           ({"numMaliciousNodes": True}, "numMaliciousNodes"), ({"beta": 0.1}, "beta")]:
        with pytest.raises(InvalidStrategyOptions) as err:
            flower_kwargs(spec, options)
        assert err.value.field == field
    with pytest.raises(InvalidStrategyOptions, match="< 0.5"):
        flower_kwargs(resolve("fedtrimmedavg"), {"beta": 0.5})
    with pytest.raises(InvalidStrategyOptions, match="fedadagrad does not take"):
        flower_kwargs(resolve("fedadagrad"), {"beta1": 0.9})
    with pytest.raises(InvalidStrategyOptions, match="needs"):
        build_strategy("qfedavg")
    with pytest.raises(InvalidStrategyOptions, match="do not apply"):
        build_strategy("krum", weights="performance")
    listed = {entry["name"]: entry for entry in describe()}
    assert {"fedavgm", "fedmedian", "fedtrimmedavg", "krum", "multikrum", "bulyan", "qfedavg", "fedadam", "fedyogi",
            "fedadagrad", "fedavg", "fedprox"} <= set(listed)
    assert {o["name"]: o["default"] for o in listed["fedtrimmedavg"]["options"]} == {"beta": 0.2}  # Flower's default


def test_krum_refuses_too_few_updates_instead_of_skipping() -> None:
    """Flower logs a warning and returns no model; fedplane fails the round with the reason."""
    strategy = build_strategy("krum", options={"num_malicious_nodes": 1})  # needs 5, three reply
    messages = list(strategy.configure_train(1, arrayrecord(model(0)), ConfigRecord(), FakeGrid()))
    with pytest.raises(TooFewUpdates, match="at least 5 valid updates; round 1 has 3") as err:
        strategy.aggregate_train(1, replies(messages, 1))
    assert (err.value.needed, err.value.valid) == (5, 3)
