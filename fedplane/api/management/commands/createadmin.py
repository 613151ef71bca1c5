"""Create (or reuse) an admin user and print a first API key holding every scope."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from fedplane.api.scopes import ALL_SCOPES
from fedplane.api.services import api_key_issue


class Command(BaseCommand):
    help = "Create an admin user and print a first API key."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")
        parser.add_argument("--password", default=None, help="Omit to leave the password unusable.")
        parser.add_argument("--key-name", default="first key")
        parser.add_argument("--quiet-key", action="store_true", help="Print only the key.")

    def handle(self, *args, **opts):
        for scope in ALL_SCOPES:  # operators grant scopes by group membership
            Group.objects.get_or_create(name=scope)
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=opts["username"], defaults={"email": opts["email"], "is_staff": True, "is_superuser": True}
        )
        if opts["password"]:
            user.set_password(opts["password"])
            user.save()
        elif created:
            user.set_unusable_password()
            user.save()
        _, plaintext = api_key_issue(user=user, name=opts["key_name"], scopes=sorted(ALL_SCOPES))
        if opts["quiet_key"]:
            self.stdout.write(plaintext)
            return
        self.stdout.write(f"{'Created' if created else 'Reused'} admin user {user.username!r}.")
        self.stdout.write(f"API key (shown once, send it as X-API-Key): {plaintext}")
