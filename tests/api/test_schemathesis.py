"""The API keeps its contract under fuzzing: schemathesis generates requests for every
operation of /api/schema/ and checks that none answers a server error, and that each
status, content type and body is one the schema documents.

It runs against a real uvicorn process of its own on the test database, derandomized with a
fixed seed and a bounded number of examples per operation: a run is repeatable and takes a
few minutes. Every operation is fuzzed; none is excluded. What would reach beyond the test
is cut off in the server's environment instead (see `fuzz_server`).

A failure names each distinct (operation, check, problem) once, with a curl command that
reproduces it and the server's answer.
"""
from __future__ import annotations

import socket
import time

import hypothesis.configuration
import pytest
import schemathesis
from schemathesis.engine import Status, events
from schemathesis.engine.run import PhaseName

from fedplane.api.scopes import ALL_SCOPES
from tests.support.processes import start_server

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

SEED = 15_011
# Fuzzing and stateful examples per operation. The coverage phase adds its own boundary cases
# (positive ones: documented enums, limits, formats, missing optionals), one each.
MAX_EXAMPLES = 15
CHECKS = ("not_a_server_error", "status_code_conformance", "response_schema_conformance",
          "content_type_conformance")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fuzz_server(live_env, live_logs, tmp_path):
    """A server of its own, so that what the fuzzer's writes set off stays inside it:
    - Celery messages go to an in-memory broker (memory://) and die with the process: no worker
      of another test runs a fuzzed training, deployment, replication or failover;
    - its var dir (region stores, artifacts, datasets, cache) is a temporary folder;
    - it reaches no other host: the registry fetches and region endpoints are allowed only on
      127.0.0.1, the SuperLink address is a closed local port (registering a client's key is
      503 at once), the integration health check pings no worker;
    - rate limits are high enough that generated calls reach the views (429 stays documented)."""
    env = {**live_env, "CELERY_BROKER_URL": "memory://", "FEDPLANE_VAR_DIR": str(tmp_path / "var"),
           "FEDERATION_FETCH_ALLOWED_HOSTS": "127.0.0.1", "FEDERATION_FETCH_TIMEOUT": "1",
           "REGIONS_ENDPOINT_ALLOWED_HOSTS": "127.0.0.1", "REGIONS_PROBE_TIMEOUT": "0.5",
           "REGIONS_FORWARD_TIMEOUT": "2",
           "FLOWER_SUPERLINK_ADDRESS": f"127.0.0.1:{_closed_port()}", "FLOWER_MANAGE_SUPERLINK": "false",
           "INTEGRATION_WORKER_PING_TIMEOUT": "0", "INTEGRATION_CONNECT_TIMEOUT": "0.2",
           **{f"FEDPLANE_RATE_LIMIT_{bucket}": "1000000" for bucket in ("DEFAULT", "TRAINING", "DEPLOYMENT",
                                                                       "PREDICT")}}
    proc, base = start_server(env, live_logs, "schemathesis")
    yield proc, base
    proc.stop()


def _config(api_key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        # A key with every scope: operations answer what they do, not only 403.
        "headers": {"X-API-Key": api_key},
        "workers": 1,  # one request at a time: the order, so the server's state, is the same each run
        "continue-on-failure": True,
        "request-timeout": 15,
        "max-stream-events": 1,  # the SSE stream never ends: its first event is enough to check
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS},
                   # 503 is the documented answer when a dependency is away (no worker answers the
                   # health ping, no SuperLink registers a key): an answer, not a crash.
                   "not_a_server_error": {"enabled": True, "expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
        "phases": {
            # Negative boundary cases of every field of every body were ~4,000 more requests
            # (several minutes); fuzzing sends negative data too.
            "coverage": {"generation": {"mode": "positive"},
                         # 405 for a method an operation does not have is DRF's answer, not ours.
                         "unexpected-methods": []},
            # Links inferred from the schema: create, then read, change and delete what was created.
            "stateful": {"enabled": True, "max-steps": 10},
        },
        "cache": {"enabled": False},  # nothing written into the checkout
    })


@pytest.mark.django_db(transaction=True)  # the server process reads the key and writes its own rows
def test_the_api_keeps_its_schema_under_fuzzing(fuzz_server, make_key, tmp_path):
    hypothesis.configuration.set_hypothesis_home_dir(str(tmp_path / "hypothesis"))
    proc, base = fuzz_server
    api_key, _ = make_key(sorted(ALL_SCOPES))
    schema = schemathesis.openapi.from_url(f"{base}/api/schema/?format=json", config=_config(api_key),
                                           headers={"X-API-Key": api_key})
    schema.config.update(base_url=base)
    documented = {operation.label for operation in (result.ok() for result in schema.get_all_operations())}

    started = time.monotonic()
    failures: dict[tuple[str, str, str], list[str]] = {}  # (operation, check, title) -> examples
    errors: list[str] = []
    cases: dict[str, int] = {}
    fuzzed: set[str] = set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases[event.phase.value] = cases.get(event.phase.value, 0) + len(recorder.cases)
            if event.phase == PhaseName.FUZZING and event.status != Status.SKIP:
                fuzzed.add(recorder.label)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        key = (recorder.label, check.name, failure.title)
                        failures.setdefault(key, []).append(_describe(recorder, case_id, failure))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {str(event.info)[:600]}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    elapsed = time.monotonic() - started
    print(f"schemathesis {schemathesis.__version__}: {len(fuzzed)} of {len(documented)} operations, "
          f"{sum(cases.values())} cases {cases}, seed {SEED}, {elapsed:.0f} s")

    assert not errors, "\n".join(errors)
    report = "\n".join(f"{op} [{check}] {title} (x{len(found)})\n{found[0]}"
                       for (op, check, title), found in sorted(failures.items()))
    assert not failures, f"{len(failures)} distinct failures:\n{report}\n--- server log ---\n{proc.log_tail(60)}"
    assert fuzzed == documented, f"not fuzzed: {sorted(documented - fuzzed)}"


def _describe(recorder, case_id: str, failure) -> str:
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    response = interaction.response if interaction else None
    answer = f"{response.status_code} {(response.content or b'')[:300]!r}" if response else "no response"
    return f"  {case.as_curl_command()}\n  -> {answer}\n  {failure.message[:600]}"
