"""The live federated-learning fixtures live in tests/support/fl.py (other folders use them too)."""
from tests.support.fl import (TERMINAL, events_of, execution_of, start_execution,  # noqa: F401
                              wait_for_round, wait_for_status)
