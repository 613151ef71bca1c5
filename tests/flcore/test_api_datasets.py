"""Dataset uploads through the API (the simulations that use them are in test_simulation.py)."""
from __future__ import annotations

import pytest

from fedplane.api.scopes import Scope

pytestmark = pytest.mark.django_db

CSV = b"f1,f2,label\n0.1,0.2,0\n0.3,0.1,1\n0.5,0.9,1\n"


@pytest.fixture
def upload(client, make_key, settings, tmp_path):
    settings.FEDPLANE_ARTIFACT_ROOT = tmp_path
    plaintext, _ = make_key([Scope.FL_TRAINING_EXECUTE, Scope.FL_METRICS_VIEW])
    return lambda query, body: client.post(f"/api/v1/fl/datasets?{query}", data=body,
                                           content_type="application/octet-stream", HTTP_X_API_KEY=plaintext)


def test_format_names_the_file_format_of_an_upload_not_a_renderer(upload):
    """?format=csv was read by DRF as a response renderer it does not have: every upload that
    named its format was a 404."""
    created = upload("name=clinic-export&format=csv", CSV)
    assert created.status_code == 201, created.content
    dataset = created.json()["data"]
    assert (dataset["format"], dataset["numSamples"], dataset["numClasses"]) == ("csv", 3, 2)
    wrong = upload("name=clinic-export&format=npz", CSV)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "VALIDATION_ERROR", wrong.content


def test_a_chunked_upload_past_the_body_limit_is_413_and_leaves_nothing(settings, tmp_path, django_user_model):
    # A chunked body carries no Content-Length, so the body-size middleware cannot refuse it up front.
    from fedplane.api.errors import DomainError
    from flcore.models import TrainingDataset
    from flcore.services.datasets import dataset_upload

    settings.FEDPLANE_ARTIFACT_ROOT = tmp_path
    settings.MAX_REQUEST_BODY_BYTES = 64
    user = django_user_model.objects.create_user("uploader")
    with pytest.raises(DomainError) as refused:
        dataset_upload(user=user, name="big.csv", chunks=iter([CSV, CSV, CSV]))
    assert refused.value.status == 413 and refused.value.code == "PAYLOAD_TOO_LARGE"
    assert list((tmp_path / "datasets").iterdir()) == [] and not TrainingDataset.objects.exists()
