"""Django's SQLite backend with the SQLite library's own limit on variables per statement.

Django 5.2 assumes SQLite's old default of 999 variables, so it splits a bulk insert of
100 client updates (10 columns each) into two statements, and a round of 50 clients
would cost more statements than a round of 5. SQLite 3.32+ allows 32,766 by default
(Debian builds 250,000): this backend asks the connection, as Django 6.0 does
(ticket #36143). Remove it when fedplane moves to Django 6.
"""
from __future__ import annotations

import sqlite3

from django.db.backends.sqlite3 import base, features
from django.utils.functional import cached_property

__all__ = ["DatabaseWrapper"]


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def max_query_params(self) -> int:
        self.connection.ensure_connection()
        return self.connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
