"""Which version of each shared package each application gets at runtime.

A simulation of the share scope, rule by rule, as the webpack 5 sharing runtime
(lib/sharing/ShareRuntimeModule.js, ConsumeSharedRuntimeModule.js) and the Module
Federation 2.0 runtime (runtime-core utils/share.ts) behave. docs/module-federation.md
names each rule (R1..R14) and where in those sources it comes from; the rule ids
appear in every decision so a surprising answer can be traced.
Each runtime's own semver decides (semver_webpack.py, semver_mf2.py: rule R13), and the
warnings and errors carry each runtime's own wording, which is what a developer greps for.
Pure: no database, no I/O; services/dependencies.py feeds it from the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cmp_to_key

from . import semver_mf2, semver_webpack

__all__ = ["ShareEntry", "Provided", "Loaded", "Decision", "Resolution", "resolve", "RUNTIMES", "MF2_PREFIX", "MF2_WARN_PREFIX"]

RUNTIMES = ("mf2", "webpack")
# runtime-core utils/logger.ts LOG_CATEGORY: error() throws `${LOG_CATEGORY}: ${msg}`; warn() hands both to
# the sdk logger, whose console.log(prefix, msg) prints them separated by a space (sdk src/logger.ts)
MF2_PREFIX = "[ Federation Runtime ]: "
MF2_WARN_PREFIX = "[ Federation Runtime ] "
_SEMVER = {"mf2": semver_mf2, "webpack": semver_webpack}


def _satisfies(runtime: str, version: str, required: str | bool | None) -> bool:
    """`requiredVersion: false` (and no requirement) accepts any version: webpack then consumes with
    load/loadSingleton, MF 2.0 skips its check (`requiredVersion === false || '*'`)."""
    if required is None or required is False:
        return True
    return _SEMVER[runtime].satisfies(version, required)


def _sorted(runtime: str, versions) -> list[str]:
    lt = _SEMVER[runtime].version_lt  # MF 2.0's is "<=": compare both ways
    return sorted(versions, key=cmp_to_key(lambda a, b: -1 if lt(a, b) and not lt(b, a)
                                                  else 1 if lt(b, a) and not lt(a, b) else 0))


@dataclass(frozen=True)
class ShareEntry:
    """One application's `shared` config for one package (what it provides and consumes)."""

    application: str  # the container's uniqueName
    package: str
    version: str | None  # the version its own copy is; None with import: false
    required_version: str | bool | None  # False: requiredVersion: false (no check)
    singleton: bool = False
    strict_version: bool | None = None  # None: the runtime's default (R9)
    eager: bool = False
    fallback: bool = True  # webpack's `import` (False is `import: false`: no own copy)
    scope: str = "default"
    provides: bool = True  # False: consumes only (ConsumeSharedPlugin without ProvideSharedPlugin)


@dataclass
class Provided:
    version: str
    source: str  # uniqueName of the registering container
    eager: bool
    loaded: bool = False
    loading: bool = False  # MF 2.0: a load in flight (`shared.loading`), which loaded-first prefers too


@dataclass(frozen=True)
class Loaded:
    """A version already in the page before resolution: who provided it, loaded or still loading."""

    package: str
    version: str
    source: str = "(page)"
    status: str = "loaded"  # loaded | loading
    scope: str = "default"


@dataclass
class Decision:
    application: str
    package: str
    required_version: str | bool | None
    singleton: bool
    strict_version: bool
    version: str | None = None
    source: str | None = None  # the container whose copy is used
    via: str = "shared"  # shared | fallback | override | none
    rules: list[str] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"application": self.application, "package": self.package, "requiredVersion": self.required_version,
                "singleton": self.singleton, "strictVersion": self.strict_version, "version": self.version,
                "from": self.source, "via": self.via, "rules": self.rules, "warnings": self.warnings,
                "errors": self.errors}


@dataclass
class Resolution:
    decisions: list[Decision]
    scope: dict[str, dict[str, dict[str, Provided]]]
    runtime: str = "mf2"

    @property
    def conflicts(self) -> list[dict]:
        """MF003 per package where consumers end up unsatisfied (singleton or strict failure)."""
        by_package: dict[tuple[str, str | None], list[Decision]] = {}
        wanted: dict[str, set[str]] = {}  # every consumer's range per package, gathered in one pass
        for d in self.decisions:
            if d.errors or d.warnings:
                by_package.setdefault((d.package, d.version), []).append(d)
            if isinstance(d.required_version, str) and d.required_version:
                wanted.setdefault(d.package, set()).add(d.required_version)
        out = []
        for (package, version), decisions in sorted(by_package.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            out.append({"code": "MF003", "package": package, "version": version,
                        "severity": "error" if any(d.errors for d in decisions) else "warning",
                        "applications": [{"application": d.application, "requiredVersion": d.required_version}
                                         for d in decisions],
                        "satisfiableBy": self._satisfiable_by(package, wanted.get(package, set()))})
        return out

    def _satisfiable_by(self, package: str, wanted: set[str]) -> str | None:
        """The highest registered version every consumer of the package would accept: what an
        override or an upgrade should move to, if one exists."""
        versions = {v for scope in self.scope.values() for v in scope.get(package, {})}
        fitting = [v for v in versions if all(_satisfies(self.runtime, v, r) for r in wanted)]
        return _sorted(self.runtime, fitting)[-1] if fitting else None


def _mf(code: str, message: str, rule: str) -> dict:
    return {"code": code, "message": message, "rule": rule}


class _Simulator:
    def __init__(self, runtime: str, strategy: str, overrides: dict[str, str],
                 share_strategy: str = "version-first") -> None:
        self.runtime, self.strategy, self.overrides = runtime, strategy, overrides
        self.share_strategy = share_strategy
        self.scope: dict[str, dict[str, dict[str, Provided]]] = {}

    # --- ordering: `highest` is the runtimes' own; `lowest` is what a resolveShare hook
    # preferring low versions would make them do (runtime-core's resolveShare waterfall).
    def _better(self, current: str, candidate: str) -> bool:
        lt = _SEMVER[self.runtime].version_lt
        return lt(current, candidate) if self.strategy != "lowest" else lt(candidate, current)

    def _ok(self, version: str, required) -> bool:
        return _satisfies(self.runtime, version, required)

    def _shown(self, required) -> str:
        """A range as the runtime prints it: webpack normalises it (rangeToString: "1.2.3" is
        "=1.2.3"), MF 2.0 prints what was configured."""
        if self.runtime == "webpack" and isinstance(required, str):
            return semver_webpack.range_to_string(required)
        return str(required).lower() if isinstance(required, bool) else str(required)

    def register(self, entry: ShareEntry) -> None:
        """R1: ShareRuntimeModule's `register`: a version already registered is replaced only
        while not loaded, by an eager provider over a lazy one, else by the larger uniqueName.
        MF 2.0 (SharedHandler initializeSharing `register`) never replaces one registered with
        shareStrategy loaded-first."""
        if not (entry.provides and entry.fallback and entry.version):
            return
        versions = self.scope.setdefault(entry.scope, {}).setdefault(entry.package, {})
        active = versions.get(entry.version)
        if active is not None and self.runtime == "mf2" and self.share_strategy == "loaded-first":
            return
        if active is None or (not active.loaded and (
                entry.eager if entry.eager != active.eager else not active.source > entry.application)):
            versions[entry.version] = Provided(entry.version, entry.application, entry.eager)

    def mark_loaded(self, loaded: Loaded) -> None:
        versions = self.scope.setdefault(loaded.scope, {}).setdefault(loaded.package, {})
        provided = versions.setdefault(loaded.version, Provided(loaded.version, loaded.source, False))
        provided.source = loaded.source
        if loaded.status == "loading":
            provided.loading = True
        else:
            provided.loaded = True

    def _candidates(self, entry: ShareEntry, decision: Decision) -> dict[str, Provided]:
        versions = self.scope.get(entry.scope, {}).get(entry.package, {})
        if entry.eager:  # R8: eagerOnly
            decision.rules.append("R8")
            return {v: p for v, p in versions.items() if p.eager}
        return versions

    def _sticky_max(self, versions: dict[str, Provided]) -> str:
        """R2: the singleton key: the best version, except that a loaded one is never left
        (webpack findSingletonVersionKey; runtime-core findSingletonVersionOrderByVersion). MF 2.0
        with loaded-first prefers any loaded or loading version, the best among them
        (findSingletonVersionOrderByLoaded); webpack knows no "loading"."""
        def busy(p: Provided) -> bool:
            return p.loaded or p.loading

        best = None
        for version, provided in versions.items():
            if best is None:
                best = version
            elif self.runtime == "mf2" and self.share_strategy == "loaded-first":
                if busy(provided) and not busy(versions[best]):
                    best = version
                elif busy(provided) == busy(versions[best]) and self._better(best, version):
                    best = version
            elif not versions[best].loaded and self._better(best, version):
                best = version
        return best

    def consume(self, entry: ShareEntry) -> Decision:
        strict = self.strict_default(entry)
        decision = Decision(entry.application, entry.package, entry.required_version, entry.singleton, strict)
        versions = self._candidates(entry, decision)
        if entry.package in self.overrides:
            return self._override(entry, decision, versions)
        if not versions:
            return self._not_in_scope(entry, decision)
        if entry.singleton:
            return self._singleton(entry, decision, versions)
        return self._non_singleton(entry, decision, versions)

    def strict_default(self, entry: ShareEntry) -> bool:
        """R9: webpack's ConsumeSharedPlugin defaults strictVersion to `import !== false &&
        !singleton`; MF 2.0's formatShare defaults it to false."""
        if entry.strict_version is not None:
            return entry.strict_version
        return entry.fallback and not entry.singleton if self.runtime == "webpack" else False

    def _use(self, decision: Decision, provided: Provided, via: str = "shared") -> Decision:
        provided.loaded = True
        decision.version, decision.source, decision.via = provided.version, provided.source, via
        return decision

    def _own_copy(self, entry: ShareEntry, decision: Decision) -> Decision:
        # The fallback is a module of the consumer's own bundle, not a share-scope entry:
        # nothing in the scope becomes loaded by it.
        decision.version, decision.source, decision.via = entry.version, entry.application, "fallback"
        return decision

    def _not_in_scope(self, entry: ShareEntry, decision: Decision) -> Decision:
        """R7: useFallback: the consumer's own copy, or 'Shared module doesn't exist'."""
        decision.rules.append("R7")
        if entry.fallback and entry.version:
            return self._own_copy(entry, decision)
        decision.via = "none"
        # webpack failAsNotExist's wording (MF 2.0 has no shared scope entry to name either)
        decision.errors.append(_mf("MF003", f"Shared module {entry.package} doesn't exist in shared scope "
                                            f"{entry.scope}", "R7"))
        return decision

    def _singleton(self, entry: ShareEntry, decision: Decision, versions: dict[str, Provided]) -> Decision:
        version = self._sticky_max(versions)
        decision.rules.append("R2")
        required = entry.required_version
        # MF 2.0 checks only a string requirement (`typeof requiredVersion === 'string'`)
        if isinstance(required, str) and required and not self._ok(version, required):
            decision.rules.append("R3")  # loadSingletonVersion / loadStrictSingletonVersion; getRegisteredShare
            if self.runtime == "webpack":
                message = (f"Unsatisfied version {version} from {versions[version].source} of shared singleton "
                           f"module {entry.package} (required {self._shown(required)})")
            else:  # runtime-core's wording, its unbalanced ")" included
                prefix = MF2_PREFIX if decision.strict_version else MF2_WARN_PREFIX
                message = (f"{prefix}Version {version} from {versions[version].source} of shared singleton "
                           f"module {entry.package} does not satisfy the requirement of {entry.application} "
                           f"which needs {required})")
            (decision.errors if decision.strict_version else decision.warnings).append(_mf("MF006", message, "R3"))
        return self._use(decision, versions[version])

    def _no_satisfying_message(self, entry: ShareEntry) -> str:
        """webpack getInvalidVersionMessage: the normalised range, a newline, then every version in
        the scope (eager or not) with the container that provided it."""
        scope = self.scope.get(entry.scope, {}).get(entry.package, {})
        return (f"No satisfying version ({self._shown(entry.required_version)})"
                + (" for eager consumption" if entry.eager else "")
                + f" of shared module {entry.package} found in shared scope {entry.scope}.\n"
                + "Available versions: " + ", ".join(f"{v} from {p.source}" for v, p in scope.items()))

    def _non_singleton(self, entry: ShareEntry, decision: Decision, versions: dict[str, Provided]) -> Decision:
        required = entry.required_version
        if self.runtime == "mf2":
            best = self._sticky_max(versions)
            if required in (None, False, "", "*") or self._ok(best, required):
                decision.rules.append("R4")
                return self._use(decision, versions[best])
            # R11: runtime-core walks the versions in registration order (a `lowest` hook: ascending)
            ordered = _sorted(self.runtime, versions) if self.strategy == "lowest" else list(versions)
            for version in ordered:
                if self._ok(version, required):
                    decision.rules.append("R11")
                    return self._use(decision, versions[version])
            decision.rules.append("R6")  # getRegisteredShare returns nothing: loadShare uses the own copy
            if entry.fallback and entry.version:
                return self._own_copy(entry, decision)
            decision.via = "none"  # fedplane's wording: the runtime has no own copy to fall back on
            decision.errors.append(_mf("MF006", f"No satisfying version ({required}) of shared module "
                                                f"{entry.package} and no own copy", "R6"))
            return decision
        satisfying = [v for v in versions if self._ok(v, required)]
        if satisfying:  # R4: findSatisfyingVersion, the best satisfying version, loaded or not
            decision.rules.append("R4")
            best = satisfying[0]
            for version in satisfying[1:]:
                if self._better(best, version):
                    best = version
            return self._use(decision, versions[best])
        message = self._no_satisfying_message(entry)
        if decision.strict_version:  # R5: loadStrictVersion
            decision.rules.append("R5")
            if entry.fallback and entry.version:
                return self._own_copy(entry, decision)
            decision.via = "none"
            decision.errors.append(_mf("MF006", message, "R5"))
            return decision
        decision.rules.append("R6")  # loadVersion: warn, then the latest version
        decision.warnings.append(_mf("MF006", message, "R6"))
        latest = None
        for version in versions:
            if latest is None or self._better(latest, version):
                latest = version
        return self._use(decision, versions[latest])

    def _override(self, entry: ShareEntry, decision: Decision, versions: dict[str, Provided]) -> Decision:
        """R12 (manual): the override is what a resolveShare hook returns; the consumer's own
        checks (R3 for singletons, R5/R6 otherwise) still apply to it."""
        decision.rules.append("R12")
        version = self.overrides[entry.package]
        if version not in versions:
            decision.via = "none"
            decision.errors.append(_mf("MF003", f"Override {entry.package}@{version} is not provided by any "
                                                f"application in scope {entry.scope}", "R12"))
            return decision
        required = entry.required_version
        if isinstance(required, str) and required and not self._ok(version, required):
            message = (f"Override {entry.package}@{version} does not satisfy {entry.application}'s "
                       f"requiredVersion {self._shown(required)}")
            (decision.errors if decision.strict_version else decision.warnings).append(
                _mf("MF006", message, "R3" if entry.singleton else "R5"))
        return self._use(decision, versions[version], via="override")


def resolve(applications: list[tuple[str, list[ShareEntry]]], *, strategy: str = "highest",
            runtime: str = "mf2", share_strategy: str = "version-first",
            overrides: dict[str, str] | None = None,
            loaded: dict[str, str] | list[Loaded] | None = None) -> Resolution:
    """`applications` in load order, the shell first.

    R10 (shareStrategy): with `version-first` (the MF 2.0 default, and webpack 5's behaviour
    for statically configured remotes, whose entries initializeSharing initialises) every
    application registers before anything is consumed; with `loaded-first` each registers
    only when it is loaded, so earlier choices stick.

    `loaded`: what the page holds already, as {package: version} or Loaded records (several
    versions of one package, who provided each, loaded or still loading).
    """
    sim = _Simulator(runtime, strategy, (overrides or {}) if strategy == "manual" else {}, share_strategy)
    records = [Loaded(p, v) for p, v in loaded.items()] if isinstance(loaded, dict) else list(loaded or [])
    for record in records:
        sim.mark_loaded(record)
    decisions: list[Decision] = []
    if share_strategy == "version-first":
        for _, entries in applications:
            for entry in entries:
                sim.register(entry)
    for _, entries in applications:
        if share_strategy != "version-first":
            for entry in entries:
                sim.register(entry)
        decisions.extend(sim.consume(entry) for entry in entries)
    return Resolution(decisions, sim.scope, runtime)
