"""One auth group per scope: operators grant a scope by group membership."""
from django.db import migrations

from fedplane.api.scopes import ALL_SCOPES


def create_scope_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for scope in sorted(ALL_SCOPES):
        Group.objects.get_or_create(name=scope)


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_scope_groups, migrations.RunPython.noop)]
