"""A Celery worker outlives its broker: Redis of its own, SIGKILLed while tasks are in flight,
then started again (fedplane/ops/broker.py has the kombu fix this relies on)."""
from __future__ import annotations

import os
import signal
import sys
import uuid

import pytest
from celery import Celery
from kombu import Connection, Exchange, Queue

from fedplane.ops.broker import Transport
from tests.support.processes import ManagedProcess, wait_until
from tests.support.throwaway import Redis, missing_binaries

pytestmark = [pytest.mark.live, pytest.mark.timeout(180),
              pytest.mark.skipif("redis-server" in missing_binaries(), reason="needs redis-server")]


@pytest.fixture
def redis():
    server = Redis().start()
    yield server
    server.close()


@pytest.mark.parametrize("transport", ["kombu.transport.redis:Transport", "fedplane.ops.broker:Transport"])
def test_a_channel_left_open_by_a_collect_during_an_outage_fails_recoverably(redis, transport):
    """The upstream failure, step by step: two channels hold unacked messages, the broker dies,
    the connection is collected as Celery does; closing the channel the collect left open
    restores its messages. kombu's own transport raises AttributeError there (fatal to a worker);
    fedplane's raises a connection error, which Celery recovers from."""
    conn = Connection(f"{redis.url}/1", transport=transport)
    received = []
    channels = [conn.channel(), conn.channel()]
    for name, channel in zip("ab", channels):
        queue = Queue(name, Exchange(name), name)
        conn.Producer(channel=channel).publish({}, exchange=queue.exchange, routing_key=name, declare=[queue])
        consumer = conn.Consumer(queue, channel=channel, callbacks=[lambda body, message: received.append(message)])
        consumer.qos(prefetch_count=1)  # once its message is in, a channel asks for no more (no read pending)
        consumer.consume()
    wait_until(lambda: conn.drain_events(timeout=1) or len(received) == 2, timeout=20, message="both delivered")
    redis.stop(signal.SIGKILL)
    try:
        conn.collect(socket_timeout=1)  # what Celery's consumer does when the broker is lost
    except conn.connection_errors:
        pass
    left_open = [c for c in channels if not c.closed]
    assert left_open
    try:
        if transport.startswith("kombu."):
            with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'hostname'"):
                left_open[0].close()
        else:
            with pytest.raises(conn.connection_errors):
                left_open[0].close()
    finally:
        for channel in channels:  # this broker is gone for good: no restore attempt at interpreter exit
            channel.do_restore = False


def test_the_worker_survives_redis_killed_mid_task_and_runs_the_next_one(redis, tmp_path):
    broker = f"{redis.url}/1"
    env = {**os.environ, "CELERY_BROKER_URL": broker, "FEDPLANE_VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "REGIONS_BACKGROUND_PROBE_SECONDS": "0"}
    env.pop("REDIS_URL", None)
    # As the fl worker runs: two pool processes, a fresh one per task, late acks.
    worker = ManagedProcess(
        [sys.executable, "-m", "celery", "-A", "fedplane", "worker", "-I", "tests.support.slow_tasks", "-l", "info",
         "-P", "prefork", "-c", "2", "--max-tasks-per-child", "1", "-Q", "outage", "-n", "outage@%h",
         "--without-gossip", "--without-mingle"], env, tmp_path / "worker.log")
    sender = Celery()
    log = worker.log_path

    def send(seconds: float) -> str:
        marker = str(tmp_path / uuid.uuid4().hex)
        # An explicit connection: Celery(broker=...) would give way to a CELERY_BROKER_URL in the environment.
        with Connection(broker) as connection:
            sender.send_task("tests.hold", args=[seconds, marker], queue="outage", connection=connection)
        return marker

    try:
        wait_until(lambda: " ready." in log.read_text(), timeout=90, interval=0.2, message="worker ready")
        in_flight = [send(4), send(4)]
        wait_until(lambda: all(os.path.exists(f"{m}.started") for m in in_flight), timeout=60, interval=0.1,
                   message="both tasks running")
        redis.stop(signal.SIGKILL)
        wait_until(lambda: "Connection to broker lost" in log.read_text(), timeout=30, interval=0.1,
                   message="the worker notices the outage")
        # The tasks end while the broker is away: their acks cannot reach it.
        wait_until(lambda: all(os.path.exists(f"{m}.done") for m in in_flight), timeout=60, interval=0.1,
                   message="the in-flight tasks finished")
        assert worker.alive(), worker.log_tail()
        redis.start()  # same port, empty: a restart without persistence
        wait_until(lambda: log.read_text().count("Connected to redis") >= 2, timeout=60, interval=0.2,
                   message="the worker reconnects")
        after = send(0)
        wait_until(lambda: os.path.exists(f"{after}.done"), timeout=60, interval=0.1, message="a new task runs")
        assert worker.alive(), worker.log_tail()
        assert "Unrecoverable error" not in log.read_text()
    finally:
        worker.stop()
        sender.close()
