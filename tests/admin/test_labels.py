"""The admin's labels read as words: each of our apps and models names itself (no "Shared
dependencys", no "Federation_Registry"), as the admin index shows them."""
from __future__ import annotations

import pytest
from django.apps import apps

pytestmark = pytest.mark.django_db
OURS = {"api", "events", "ops", "integration", "dashboard", "flcore", "federation_registry", "regions"}


def test_every_app_and_model_on_the_admin_index_reads_as_words(console):
    response = console.get("/admin/")
    assert response.status_code == 200
    listed = {app["app_label"]: app for app in response.context["app_list"]}
    assert OURS - {"ops", "dashboard"} <= set(listed)  # the two without models have no section
    for label, app in listed.items():
        config = apps.get_app_config(label)
        assert "_" not in app["name"] and not app["name"].isupper(), app["name"]
        if label in OURS:
            assert "verbose_name" in type(config).__dict__, f"{label}: no verbose_name of its own"
        for model in app["models"]:
            meta = config.get_model(model["object_name"])._meta
            auto_plural = f"{meta.verbose_name}s"
            assert "_" not in model["name"] and (
                "verbose_name_plural" in meta.original_attrs or model["name"].lower() != auto_plural), \
                f"{label}.{model['object_name']}: {model['name']!r} is Django's own plural"
    page = response.content.decode()
    assert "Module Federation registry" in page and "Shared dependencies" in page
    assert "Multi-region ML platform" in page


def test_every_model_of_ours_names_itself():
    unnamed = [f"{model._meta.label}: {missing}" for label in OURS for model in apps.get_app_config(label).get_models()
               for missing in ("verbose_name", "verbose_name_plural") if missing not in model._meta.original_attrs]
    assert unnamed == []
