"""The demo's yardstick: the same model trained centrally on the rows its clients train on."""
from __future__ import annotations

from flcore.demo.central import train_centrally
from flcore.demo.data import write_digits_partitions
from flcore.runtime.model import load_data
from flcore.services.training_plan import run_config_from


def test_central_training_pools_the_clients_training_rows_for_the_federated_budget(tmp_path):
    paths, test_path = write_digits_partitions(tmp_path, 3, alpha=1.0)
    config = run_config_from({"localEpochs": 2, "learningRate": 0.2, "proximalMu": 0.5}, "fedprox")
    result = train_centrally(paths, test_path, config, rounds=3)

    assert result.rows == sum(len(load_data(path, config).y_train) for path in paths)  # held-out rows left out
    assert result.epochs == 6
    assert 0.9 < result.accuracy <= 1.0
    assert train_centrally(paths, test_path, config, rounds=3) == result  # seeded: the same twin every run
