"""The remote-to-remote dependency graph, and refusing the edge that would close a cycle."""
from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from django.db import connection

from ..errors import CircularDependency
from ..models import RemoteModule

__all__ = ["find_cycle", "ensure_acyclic", "graph_of"]


def find_cycle(edges: dict[UUID, set[UUID]], start: UUID) -> list[UUID] | None:
    """A path start -> ... -> start through `edges`, or None. Iterative DFS: graphs of
    thousands of remotes must not hit Python's recursion limit."""
    stack: list[tuple[UUID, list[UUID]]] = [(start, [start])]
    seen: set[UUID] = set()
    while stack:
        node, path = stack.pop()
        for nxt in edges.get(node, ()):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def _edges() -> dict[UUID, set[UUID]]:
    edges: dict[UUID, set[UUID]] = defaultdict(set)
    for src, dst in RemoteModule.consumes.through.objects.values_list("from_remotemodule_id", "to_remotemodule_id"):
        edges[src].add(dst)
    return edges


_GRAPH_LOCK = 0x4D463038  # "MF08": one advisory lock for every change of the graph


def _lock_graph() -> None:
    """Two concurrent edits could each add half of a cycle that neither sees. SQLite runs
    write transactions one at a time already; PostgreSQL needs this transaction lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_GRAPH_LOCK])


def ensure_acyclic(module_id: UUID, consumes: list[UUID]) -> None:
    """Raise MF008 naming the cycle if `module_id` consuming `consumes` closes one.
    Call inside the transaction that then saves the edges."""
    _lock_graph()
    edges = _edges()
    edges[module_id] = set(consumes)
    cycle = find_cycle(edges, module_id)
    if cycle is None:
        return
    names = dict(RemoteModule.objects.filter(pk__in=set(cycle)).values_list("id", "name"))
    named = [names.get(node, "(new module)") for node in cycle]
    raise CircularDependency(f"Circular dependency: {' -> '.join(named)}.",
                             details={"cycle": named, "moduleIds": [str(node) for node in cycle]})


def graph_of(application_id=None) -> dict:
    """Nodes and edges (consumer -> consumed) of the remotes, optionally of one application."""
    modules = RemoteModule.objects.all()
    if application_id is not None:
        modules = modules.filter(application_id=application_id)
    nodes = list(modules.values("id", "name", "version", "application_id"))
    ids = {n["id"] for n in nodes}
    edges = [{"from": str(s), "to": str(d)} for s, d in
             RemoteModule.consumes.through.objects.filter(from_remotemodule_id__in=ids)
             .values_list("from_remotemodule_id", "to_remotemodule_id")]
    return {"nodes": [{"id": str(n["id"]), "name": n["name"], "version": n["version"],
                       "applicationId": str(n["application_id"])} for n in nodes], "edges": edges}
