"""The system dependency graph across the three apps: GET /integration/dependencies.

Nodes are "<kind>:<pk>"; edges carry the seed's relation names. The walk starts at the
roots (every application unless one is named) and follows edges in both directions,
one hop per level of `depth`. Each level costs at most two queries per relation (the
frontier's outgoing and incoming edges, filtered by id), and nodes are read once per
kind at the end: the query count depends on `depth`, never on how many rows there are.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from django.db.models import Exists, OuterRef, Q, QuerySet

from fedplane.api.errors import DomainError, ErrorCode, NotFound
from federation_registry.models import Application, RemoteModule, SharedDependency
from flcore.models import AggregatedModel, ClientAssignment, FLClient, TrainingExecution
from regions.models import ModelVersion, Serving

from ..models import ModelRequirement, ModuleClientDeployment, TriggeredExecution

__all__ = ["KINDS", "RELATIONS", "VIEWS", "MAX_DEPTH", "DEFAULT_DEPTH", "dependency_graph", "parse_depth",
           "parse_roots"]

KINDS = ("application", "module", "shared", "execution", "client", "aggregated_model", "model_version")
VIEWS = ("graph", "list", "matrix")
MAX_DEPTH, DEFAULT_DEPTH = 10, 2

Node = tuple[str, str]  # (kind, pk as text)
Edge = tuple[Node, Node, str]


@dataclass(frozen=True)
class Relation:
    name: str
    source: str
    target: str
    rows: Callable[[], QuerySet]
    source_field: str
    target_field: str


RELATIONS: tuple[Relation, ...] = (
    Relation("hosts", "application", "module", lambda: RemoteModule.objects, "application_id", "id"),
    Relation("uses", "application", "shared", lambda: SharedDependency.applications.through.objects,
             "application_id", "shareddependency_id"),
    Relation("triggers", "application", "execution", lambda: TriggeredExecution.objects,
             "application_id", "execution_id"),
    Relation("involves", "execution", "client", lambda: ClientAssignment.objects, "execution_id", "client_id"),
    Relation("deployed-to", "module", "client", lambda: ModuleClientDeployment.objects, "module_id", "client_id"),
    Relation("produces", "execution", "aggregated_model", lambda: AggregatedModel.objects, "execution_id", "id"),
    Relation("required-by", "shared", "aggregated_model", lambda: ModelRequirement.objects,
             "dependency_id", "aggregated_model_id"),
    # regions records where a version came from in JSON; flcore does not know regions exists.
    Relation("promoted-to", "aggregated_model", "model_version", lambda: ModelVersion.objects,
             "source__aggregatedModelId", "id"),
)


def _invalid(message: str, **details) -> DomainError:
    return DomainError(message, code=ErrorCode.VALIDATION_ERROR, status=422, details=details)


def parse_depth(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_DEPTH
    try:
        depth = int(raw)
    except ValueError:
        raise _invalid(f"depth must be an integer from 0 to {MAX_DEPTH}.", depth=raw) from None
    if not 0 <= depth <= MAX_DEPTH:
        raise _invalid(f"depth must be an integer from 0 to {MAX_DEPTH}.", depth=raw)
    return depth


def parse_roots(raw: str | None) -> list[Node] | None:
    """`kind:id[,kind:id...]`, or None for every application."""
    if not raw:
        return None
    roots = []
    for part in raw.split(","):
        kind, _, ref = part.strip().partition(":")
        if kind not in KINDS:
            raise _invalid(f"root must be <kind>:<id> with kind one of {', '.join(KINDS)}.", root=part)
        try:
            ref = str(int(ref)) if kind == "model_version" else str(uuid.UUID(ref))
        except ValueError:
            raise _invalid(f"root {part!r} does not name a valid {kind} id.", root=part) from None
        roots.append((kind, ref))
    return roots


def _by_kind(nodes) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for kind, ref in nodes:
        grouped[kind].add(ref)
    return grouped


def _edges_touching(frontier: set[Node]) -> set[Edge]:
    grouped, found = _by_kind(frontier), set()
    for rel in RELATIONS:
        for side, field in ((rel.source, rel.source_field), (rel.target, rel.target_field)):
            if not grouped.get(side):
                continue
            rows = rel.rows().order_by().filter(**{f"{field}__in": sorted(grouped[side])}) \
                .values_list(rel.source_field, rel.target_field)
            for s, t in rows:
                source, target = _ref(rel.source, s), _ref(rel.target, t)
                if source and target:
                    found.add(((rel.source, source), (rel.target, target), rel.name))
    return found


def _ref(kind: str, value) -> str | None:
    """The canonical text of a pk (JSON-held ids may be spelled differently, or be garbage)."""
    if value is None:
        return None
    try:
        return str(int(value)) if kind == "model_version" else str(uuid.UUID(str(value)))
    except (ValueError, TypeError):
        return None


def _walk(roots: set[Node], depth: int) -> tuple[set[Node], set[Edge]]:
    included, frontier, edges = set(roots), set(roots), set()
    for _ in range(depth):
        if not frontier:
            break
        found = _edges_touching(frontier)
        edges |= found
        frontier = {n for s, t, _ in found for n in (s, t)} - included
        included |= frontier
    if frontier:  # edges between nodes of the outermost level (or back into it) without going further
        edges |= {e for e in _edges_touching(frontier) if e[0] in included and e[1] in included}
    return included, edges


def _app_rows(ids):
    return [(r["id"], r["name"], r["status"]) for r in Application.objects.filter(pk__in=ids).values(
        "id", "name", "status")]


def _module_rows(ids):
    return [(r["id"], f"{r['name']}@{r['version']}", r["status"])
            for r in RemoteModule.objects.filter(pk__in=ids).values("id", "name", "version", "status")]


def _shared_rows(ids):
    # A shared package has no lifecycle of its own: it is there for the shells that list it.
    return [(r["id"], f"{r['package']}@{r['version']}", "active")
            for r in SharedDependency.objects.filter(pk__in=ids).values("id", "package", "version")]


def _execution_rows(ids):
    return [(r["id"], f"{r['algorithm']} {r['model_type']} {str(r['id'])[:8]}", r["status"])
            for r in TrainingExecution.objects.filter(pk__in=ids).values("id", "algorithm", "model_type", "status")]


def _client_rows(ids):
    return [(r["id"], r["name"], r["status"]) for r in FLClient.objects.filter(pk__in=ids).values(
        "id", "name", "status")]


def _aggregated_rows(ids):
    return [(r["id"], f"round {r['round_number']} of {str(r['execution_id'])[:8]}", r["round__status"])
            for r in AggregatedModel.objects.filter(pk__in=ids).values(
                "id", "round_number", "execution_id", "round__status")]


def _version_rows(ids):
    serving = Serving.objects.filter(Q(version=OuterRef("pk")) | Q(canary_version=OuterRef("pk")))
    return [(r["id"], f"{r['model__name']}:{r['version']}", "serving" if r["serving"] else "registered")
            for r in ModelVersion.objects.filter(pk__in=ids).annotate(serving=Exists(serving)).values(
                "id", "model__name", "version", "serving")]


_ROWS = {"application": _app_rows, "module": _module_rows, "shared": _shared_rows, "execution": _execution_rows,
         "client": _client_rows, "aggregated_model": _aggregated_rows, "model_version": _version_rows}


def _nodes(included: set[Node]) -> dict[Node, dict]:
    out = {}
    for kind, ids in _by_kind(included).items():
        for pk, label, status in _ROWS[kind](sorted(ids)):
            out[(kind, str(pk))] = {"id": f"{kind}:{pk}", "kind": kind, "ref": str(pk), "label": label,
                                    "status": status}
    return out


def dependency_graph(*, view: str = "graph", depth: int = DEFAULT_DEPTH, roots: list[Node] | None = None) -> dict:
    if view not in VIEWS:
        raise _invalid(f"view must be one of {', '.join(VIEWS)}.", view=view)
    if roots is None:
        start = {("application", str(pk)) for pk in Application.objects.values_list("pk", flat=True)}
    else:
        start = set(roots)
    included, edges = _walk(start, depth)
    nodes = _nodes(included)
    missing = [f"{k}:{r}" for k, r in sorted(start) if (k, r) not in nodes]
    if missing:
        raise NotFound(f"No such node: {', '.join(missing)}.", details={"root": missing})
    order = {kind: i for i, kind in enumerate(KINDS)}
    ordered = sorted(nodes, key=lambda n: (order[n[0]], nodes[n]["label"], n[1]))
    # A version may name an aggregated model that was deleted since: such edges end nowhere.
    edge_list = sorted(({"source": nodes[s]["id"], "target": nodes[t]["id"], "relation": rel}
                        for s, t, rel in edges if s in nodes and t in nodes),
                       key=lambda e: (e["source"], e["relation"], e["target"]))
    body = {"view": view, "depth": depth, "roots": sorted(nodes[n]["id"] for n in start)}
    node_list = [nodes[n] for n in ordered]
    if view == "graph":
        return {**body, "nodes": node_list, "edges": edge_list}
    if view == "list":
        out, into = defaultdict(list), defaultdict(list)
        for e in edge_list:
            out[e["source"]].append({"target": e["target"], "relation": e["relation"]})
            into[e["target"]].append({"source": e["source"], "relation": e["relation"]})
        return {**body, "nodes": [{**n, "dependencies": out[n["id"]], "dependents": into[n["id"]]}
                                  for n in node_list]}
    # The nodes as in the other views; row and column i of the matrix are nodes[i].
    ids = [n["id"] for n in node_list]
    index = {node_id: i for i, node_id in enumerate(ids)}
    matrix = [[0] * len(ids) for _ in ids]
    relations: list[list[str | None]] = [[None] * len(ids) for _ in ids]
    for e in edge_list:
        row, col = index[e["source"]], index[e["target"]]
        matrix[row][col], relations[row][col] = 1, e["relation"]
    return {**body, "nodes": node_list, "matrix": matrix, "relations": relations}
