"""Task monitoring: a training run by a real Celery worker leaves a task result naming that worker,
and the admin shows it beside the execution."""
from __future__ import annotations

import pytest
from django.urls import reverse

from tests.support.fl import start_execution, wait_for_status
from tests.support.processes import wait_until

pytestmark = [pytest.mark.live, pytest.mark.flower, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(600)]


def test_an_execution_run_is_a_task_result_naming_its_worker(fl_http, fl_worker, join_clients, digits, client,
                                                             make_user):
    from django_celery_results.models import TaskResult

    from flcore.models import TrainingExecution

    clients = join_clients(digits[0])
    started = start_execution(fl_http, clients, rounds=2, localEpochs=1)
    final = wait_for_status(fl_http, started["id"], timeout=400)
    assert final["status"] == "completed", final

    execution = TrainingExecution.objects.get(pk=started["id"])
    assert execution.celery_task_id and execution.worker
    # The result is stored after the execution's last write: poll for it.
    result = wait_until(lambda: TaskResult.objects.filter(task_id=execution.celery_task_id, status="SUCCESS").first(),
                        timeout=30, interval=0.2, message="task result stored")
    assert result.task_name == "flcore.run_execution" and result.worker == execution.worker
    assert result.date_started is not None and result.date_started <= result.date_done  # tracked as started
    assert started["id"] in result.task_args

    client.force_login(make_user(superuser=True))
    listing = client.get(reverse("admin:flcore_trainingexecution_changelist")).content.decode()
    assert f"taskresult/?task_id={execution.celery_task_id}" in listing and execution.worker in listing
    detail = client.get(reverse("admin:flcore_trainingexecution_change", args=[execution.pk])).content.decode()
    assert f"SUCCESS on {execution.worker}" in detail
