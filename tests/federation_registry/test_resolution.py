"""One table per rule of docs/module-federation.md: what the webpack 5 and MF 2.0 runtimes
give each application, with the warnings and errors they raise. Pure: no database."""
from __future__ import annotations

import pytest

from federation_registry.services.resolution import Loaded, ShareEntry, _Simulator, resolve


def E(app, version, required=None, **kw) -> ShareEntry:
    return ShareEntry(application=app, package=kw.pop("package", "react"), version=version,
                      required_version=required, **kw)


def run(*apps, **kw):
    """apps: (name, [entries]) in load order; returns {app: decision}."""
    result = resolve([(name, entries) for name, entries in apps], **kw)
    return {d.application: d for d in result.decisions}, result


# R13: each runtime's own semver (tables from the runtimes' tests: test_semver_runtimes.py) --
@pytest.mark.parametrize("runtime,expected", [("webpack", "1.0.0"), ("mf2", "1.1.0-beta.1")])
def test_r13_a_pre_release_satisfies_a_caret_in_mf2_only(runtime, expected):
    # webpack lib/util/semver.js satisfy blocks a pre-release outside its range's pre-release area;
    # runtime-core semver/index.ts checks >=1.0.0 and <2.0.0-0 alone, and 1.1.0-beta.1 passes both
    decisions, _ = run(("shell", [E("shell", "1.0.0", "^1.0.0", package="x")]),
                       ("remote", [E("remote", "1.1.0-beta.1", "^1.0.0", package="x")]), runtime=runtime)
    assert decisions["shell"].version == expected


@pytest.mark.parametrize("runtime,expected", [("webpack", "1.2.3+1"), ("mf2", "1.2.3")])
def test_r13_build_metadata_sorts_higher_in_webpack_only(runtime, expected):
    # webpack versionLt: 1.2.3 < 1.2.3+1; MF 2.0 versionLt ignores build metadata and is "<=", so of
    # two equal versions findVersion keeps the one registered last
    decisions, _ = run(("shell", [E("shell", "1.2.3+1", "^1.0.0", package="x", singleton=True)]),
                       ("remote", [E("remote", "1.2.3", "^1.0.0", package="x", singleton=True)]), runtime=runtime)
    assert decisions["shell"].version == expected


# R1: registration of the same version twice ---------------------------------------------
@pytest.mark.parametrize("first,second,winner", [
    (dict(app="a", eager=False), dict(app="b", eager=False), "b"),   # larger uniqueName
    (dict(app="b", eager=False), dict(app="a", eager=False), "b"),
    (dict(app="b", eager=False), dict(app="a", eager=True), "a"),    # eager beats lazy
    (dict(app="a", eager=True), dict(app="b", eager=False), "a"),
])
def test_r1_same_version_registration(first, second, winner):
    _, result = run((first["app"], [E(first["app"], "18.2.0", eager=first["eager"])]),
                    (second["app"], [E(second["app"], "18.2.0", eager=second["eager"])]))
    assert result.scope["default"]["react"]["18.2.0"].source == winner


@pytest.mark.parametrize("runtime,winner", [("webpack", "b"), ("mf2", "a")])
def test_r1_mf2_loaded_first_never_replaces_a_registered_version(runtime, winner):
    # runtime-core SharedHandler initializeSharing register: `activeVersion.strategy !== 'loaded-first' && ...`;
    # webpack ShareRuntimeModule register has no such condition: the larger uniqueName wins
    # registration alone (in a resolution "a" would consume, and so load, its copy before "b" registers)
    sim = _Simulator(runtime, "highest", {}, "loaded-first")
    sim.register(E("a", "18.2.0"))
    sim.register(E("b", "18.2.0"))
    assert sim.scope["default"]["react"]["18.2.0"].source == winner


@pytest.mark.parametrize("runtime", ["mf2", "webpack"])
def test_r1_a_loaded_version_is_never_replaced(runtime):
    # "shell" loads its own 18.2.0; "zeta" (larger name) registers the same version later.
    decisions, result = run(("shell", [E("shell", "18.2.0", "^18.0.0", singleton=True)]),
                            ("zeta", [E("zeta", "18.2.0", "^18.0.0", singleton=True)]),
                            runtime=runtime, share_strategy="loaded-first")
    assert decisions["zeta"].source == "shell"


# R2/R3: singletons -----------------------------------------------------------------------
SINGLETON_WORDING = {
    # webpack lib/sharing/ConsumeSharedRuntimeModule.js getInvalidSingletonVersionMessage (range printed by
    # rangeToString); runtime-core src/utils/share.ts getRegisteredShare, prefixed by utils/logger.ts: a thrown
    # error reads "[ Federation Runtime ]: ...", a warning is console.log("[ Federation Runtime ]", msg)
    "webpack": "Unsatisfied version 18.2.0 from remote of shared singleton module react (required ^17.0.0)",
    "mf2": "[ Federation Runtime ]{} Version 18.2.0 from remote of shared singleton module react does not satisfy "
           "the requirement of shell which needs ^17.0.0)",
}


@pytest.mark.parametrize("runtime", ["mf2", "webpack"])
@pytest.mark.parametrize("strict,bucket", [(False, "warnings"), (True, "errors")])
def test_r2_r3_singleton_highest_and_unsatisfied(runtime, strict, bucket):
    decisions, result = run(("shell", [E("shell", "17.0.2", "^17.0.0", singleton=True, strict_version=strict)]),
                            ("remote", [E("remote", "18.2.0", "^18.0.0", singleton=True)]), runtime=runtime)
    assert decisions["shell"].version == decisions["remote"].version == "18.2.0"
    assert "R2" in decisions["shell"].rules and "R3" in decisions["shell"].rules
    issues = getattr(decisions["shell"], bucket)
    wording = SINGLETON_WORDING[runtime].format(":" if strict else "")
    assert [(i["code"], i["message"]) for i in issues] == [("MF006", wording)]
    assert not decisions["remote"].warnings and not decisions["remote"].errors
    assert result.conflicts[0]["code"] == "MF003"
    assert result.conflicts[0]["severity"] == ("error" if strict else "warning")


@pytest.mark.parametrize("runtime", ["mf2", "webpack"])
def test_r2_singleton_stays_on_an_already_loaded_lower_version(runtime):
    decisions, _ = run(("shell", [E("shell", "17.0.2", "^17.0.0", singleton=True)]),
                       ("remote", [E("remote", "18.2.0", ">=17.0.0", singleton=True)]),
                       runtime=runtime, share_strategy="loaded-first")
    assert decisions["shell"].version == "17.0.2"
    assert decisions["remote"].version == "17.0.2" and decisions["remote"].source == "shell"
    assert not decisions["remote"].warnings


def test_r2_loaded_in_the_page_before_resolution_sticks_even_version_first():
    decisions, _ = run(("shell", [E("shell", "18.2.0", "^18.0.0", singleton=True)]),
                       ("remote", [E("remote", "18.3.1", "^18.0.0", singleton=True)]), loaded={"react": "18.2.0"})
    assert decisions["shell"].version == decisions["remote"].version == "18.2.0"


# R4: non-singletons ----------------------------------------------------------------------
@pytest.mark.parametrize("runtime,expected", [("webpack", "4.17.21"), ("mf2", "4.17.21")])
def test_r4_highest_satisfying_version(runtime, expected):
    decisions, _ = run(("shell", [E("shell", "4.17.20", "^4.17.0", package="lodash")]),
                       ("remote", [E("remote", "4.17.21", "^4.17.0", package="lodash")]), runtime=runtime)
    assert decisions["shell"].version == expected == decisions["remote"].version


def test_r4_webpack_takes_the_highest_satisfying_even_if_a_lower_is_loaded():
    decisions, _ = run(("shell", [E("shell", "4.17.20", "^4.17.0", package="lodash")]),
                       ("remote", [E("remote", "4.17.21", "^4.17.0", package="lodash")]),
                       runtime="webpack", loaded={"lodash": "4.17.20"})
    assert decisions["remote"].version == "4.17.21"


def test_r4_mf2_reuses_a_loaded_version_that_satisfies():
    decisions, _ = run(("shell", [E("shell", "4.17.20", "^4.17.0", package="lodash")]),
                       ("remote", [E("remote", "4.17.21", "^4.17.0", package="lodash")]),
                       runtime="mf2", loaded={"lodash": "4.17.20"})
    assert decisions["remote"].version == "4.17.20"


def test_r11_mf2_takes_the_first_registered_satisfying_when_the_max_does_not():
    # d consumes first; the best registered version (2.0.0) does not satisfy it, so runtime-core
    # walks the registered versions in order and takes 1.1.0, not the higher 1.5.0.
    decisions, _ = run(("d", [E("d", None, "^1.0.0", package="x", provides=False)]),
                       ("a", [E("a", "1.1.0", "^1.0.0", package="x")]), ("b", [E("b", "1.5.0", "^1.0.0", package="x")]),
                       ("c", [E("c", "2.0.0", "^2.0.0", package="x")]), runtime="mf2")
    assert decisions["d"].version == "1.1.0" and "R11" in decisions["d"].rules


# R5/R6: nothing satisfies ----------------------------------------------------------------
def test_r5_webpack_strict_falls_back_to_the_consumers_own_copy():
    decisions, _ = run(("shell", [E("shell", "3.0.0", "^3.0.0", package="x")]),
                       ("remote", [E("remote", "2.1.0", "^2.0.0", package="x", provides=False)]), runtime="webpack")
    d = decisions["remote"]
    assert (d.version, d.via, d.source, d.strict_version) == ("2.1.0", "fallback", "remote", True)
    assert not d.warnings and not d.errors and "R5" in d.rules


def test_r5_webpack_strict_without_own_copy_is_an_error():
    decisions, _ = run(("shell", [E("shell", "3.0.0", "^3.0.0", package="x")]),
                       ("remote", [E("remote", None, "^2.0.0", package="x", fallback=False, strict_version=True)]),
                       runtime="webpack")
    assert decisions["remote"].version is None and decisions["remote"].errors[0]["code"] == "MF006"


def test_r6_webpack_non_strict_warns_and_takes_the_latest():
    decisions, _ = run(("shell", [E("shell", "3.0.0", "^3.0.0", package="x")]),
                       ("remote", [E("remote", "2.1.0", "^2.0.0", package="x", strict_version=False,
                                     provides=False)]), runtime="webpack")
    d = decisions["remote"]
    assert d.version == "3.0.0" and d.warnings[0]["code"] == "MF006" and "No satisfying version" in \
        d.warnings[0]["message"]


def test_r6_mf2_uses_the_own_copy_without_a_warning():
    decisions, _ = run(("shell", [E("shell", "3.0.0", "^3.0.0", package="x")]),
                       ("remote", [E("remote", "2.1.0", "^2.0.0", package="x", provides=False)]), runtime="mf2")
    assert decisions["remote"].via == "fallback" and decisions["remote"].version == "2.1.0"


# R7: not in the scope at all --------------------------------------------------------------
@pytest.mark.parametrize("fallback,version,via,error", [(True, "1.0.0", "fallback", False), (False, None, "none", True)])
def test_r7_not_in_scope(fallback, version, via, error):
    decisions, _ = run(("remote", [E("remote", version, "^1.0.0", package="x", fallback=fallback, provides=False)]))
    assert decisions["remote"].via == via and bool(decisions["remote"].errors) is error


# R8: eager consumers see only eager versions ------------------------------------------------
def test_r8_eager_consumer_ignores_lazy_versions():
    decisions, _ = run(("shell", [E("shell", "18.2.0", "^18.0.0", singleton=True, eager=True)]),
                       ("remote", [E("remote", "18.3.1", "^18.0.0", singleton=True)]))
    assert decisions["shell"].version == "18.2.0" and "R8" in decisions["shell"].rules


# R9: strictVersion defaults ------------------------------------------------------------------
@pytest.mark.parametrize("runtime,singleton,fallback,expected", [
    ("webpack", False, True, True), ("webpack", True, True, False), ("webpack", False, False, False),
    ("mf2", False, True, False), ("mf2", True, True, False)])
def test_r9_strict_version_default(runtime, singleton, fallback, expected):
    decisions, _ = run(("a", [E("a", "1.0.0" if fallback else None, "^1.0.0", singleton=singleton, fallback=fallback)]),
                       runtime=runtime)
    assert decisions["a"].strict_version is expected


# R10: shareStrategy ---------------------------------------------------------------------------
@pytest.mark.parametrize("share_strategy,expected", [("version-first", "18.2.0"), ("loaded-first", "17.0.2")])
def test_r10_share_strategy_decides_what_the_shell_gets(share_strategy, expected):
    decisions, _ = run(("shell", [E("shell", "17.0.2", ">=17", singleton=True)]),
                       ("remote", [E("remote", "18.2.0", ">=17", singleton=True)]), share_strategy=share_strategy)
    assert decisions["shell"].version == expected


# Seed strategies: lowest and manual (R12) -------------------------------------------------------
def test_lowest_strategy_prefers_the_lowest_version():
    decisions, _ = run(("shell", [E("shell", "18.2.0", "^18.0.0", singleton=True)]),
                       ("remote", [E("remote", "18.3.1", "^18.0.0", singleton=True)]), strategy="lowest")
    assert decisions["shell"].version == decisions["remote"].version == "18.2.0"


def test_r12_manual_override_applies_and_checks_requirements():
    decisions, _ = run(("shell", [E("shell", "17.0.2", "^17.0.0", singleton=True, strict_version=True)]),
                       ("remote", [E("remote", "18.2.0", "^18.0.0", singleton=True)]),
                       strategy="manual", overrides={"react": "18.2.0"})
    assert decisions["remote"].via == "override" and decisions["remote"].version == "18.2.0"
    assert decisions["shell"].errors[0]["code"] == "MF006"


def test_r12_override_to_a_version_nobody_provides_is_mf003():
    decisions, _ = run(("shell", [E("shell", "18.2.0", "^18.0.0")]), strategy="manual", overrides={"react": "19.0.0"})
    assert decisions["shell"].errors[0]["code"] == "MF003"


def test_conflict_names_a_version_that_would_satisfy_everyone():
    _, result = run(("shell", [E("shell", "18.1.0", "~18.1.0", singleton=True)]),
                    ("a", [E("a", "18.3.1", "^18.0.0", singleton=True)]),
                    ("b", [E("b", "18.1.5", "^18.1.0", singleton=True)]))
    assert result.conflicts[0]["satisfiableBy"] == "18.1.5"


# What the page already holds: who provided each version, several versions, a load in flight ------
def test_several_loaded_versions_each_named_by_its_provider():
    # webpack ConsumeSharedRuntimeModule findSatisfyingVersion: the best satisfying version, loaded or not;
    # the message names the provider of every version in the scope (getInvalidVersionMessage)
    decisions, result = run(("remote", [E("remote", None, "^3.0.0", package="x", provides=False, fallback=False,
                                          strict_version=False)]),
                            runtime="webpack", loaded=[Loaded("x", "1.0.0", "shell"), Loaded("x", "2.0.0", "admin")])
    d = decisions["remote"]
    assert d.version == "2.0.0" and d.source == "admin"
    assert d.warnings[0]["message"] == ("No satisfying version (^3.0.0) of shared module x found in shared scope "
                                        "default.\nAvailable versions: 1.0.0 from shell, 2.0.0 from admin")


def test_webpack_prints_an_exact_range_normalised():
    # webpack test/SemVer.unittest.js rangeToString: "1.2.3" prints "=1.2.3"
    decisions, _ = run(("shell", [E("shell", "1.2.4", "^1.0.0", package="x")]),
                       ("remote", [E("remote", None, "1.2.3", package="x", provides=False, fallback=False,
                                     strict_version=True)]), runtime="webpack")
    assert decisions["remote"].errors[0]["message"].startswith("No satisfying version (=1.2.3) of shared module x")


@pytest.mark.parametrize("share_strategy,runtime,expected", [
    ("loaded-first", "mf2", "17.0.2"),     # findSingletonVersionOrderByLoaded: a loading version is preferred
    ("version-first", "mf2", "18.2.0"),    # findSingletonVersionOrderByVersion: only `loaded` sticks
    ("loaded-first", "webpack", "18.2.0"),  # webpack's share scope knows no "loading"
])
def test_a_version_still_loading(share_strategy, runtime, expected):
    decisions, _ = run(("remote", [E("remote", "18.2.0", "^17.0.0 || ^18.0.0" if runtime == "webpack" else ">=17.0.0",
                                     singleton=True)]),
                       runtime=runtime, share_strategy=share_strategy,
                       loaded=[Loaded("react", "17.0.2", "shell", status="loading")])
    assert decisions["remote"].version == expected


# requiredVersion: false and import: false --------------------------------------------------------
@pytest.mark.parametrize("runtime", ["mf2", "webpack"])
def test_required_version_false_accepts_any_version(runtime):
    # webpack ConsumeSharedPlugin: requiredVersion false consumes with loadSingleton (no check);
    # runtime-core getRegisteredShare: `requiredVersion === false` returns the max, no warning
    decisions, _ = run(("shell", [E("shell", "17.0.2", False, singleton=True, strict_version=True)]),
                       ("remote", [E("remote", "18.2.0", "^18.0.0", singleton=True)]), runtime=runtime)
    assert decisions["shell"].version == "18.2.0" and not decisions["shell"].errors
    assert decisions["shell"].required_version is False


@pytest.mark.parametrize("runtime", ["mf2", "webpack"])
def test_import_false_provides_nothing(runtime):
    # webpack: a consumer with import: false registers nothing and has no fallback (useFallback fails)
    decisions, result = run(("remote", [E("remote", None, "^1.0.0", package="x", fallback=False, provides=False)]),
                            runtime=runtime)
    assert "x" not in result.scope.get("default", {}) and decisions["remote"].via == "none"
    assert decisions["remote"].errors[0]["message"] == "Shared module x doesn't exist in shared scope default"


# Cases of the runtimes' own tests, replayed through the simulation ------------------------------
CONSUME_MULTIPLE = "webpack test/configCases/sharing/consume-multiple-versions/index.js"
# its share scope, in its order; only 1.2.3 names a provider ("from: mfe1"), so webpack prints "undefined"
_SCOPE = [("9.9.9", "undefined"), ("1.9.9", "undefined"), ("1.2.9", "undefined"), ("1.2.3", "mfe1"),
          ("2.9.9", "undefined"), ("2.3.9", "undefined"), ("2.3.4", "undefined"), ("3.0.0", "undefined")]
_AVAILABLE = ", ".join(f"{v} from {p}" for v, p in _SCOPE)


@pytest.mark.parametrize("source,required,strict,runtime,version,message", [
    # consumes: {shared: {import: false, strictVersion: true}}; peerDependencies shared ^1.0.0
    (CONSUME_MULTIPLE, "^1.0.0", True, "webpack", "1.9.9", None),
    (CONSUME_MULTIPLE, "^2.3.0", True, "webpack", "2.9.9", None),  # my-module/package.json
    (CONSUME_MULTIPLE, "^3.4.5", True, "webpack", None,
     "No satisfying version (^3.4.5) of shared module shared found in shared scope default.\n"
     f"Available versions: {_AVAILABLE}"),
    # the same scope under MF 2.0 (runtime-core share.ts getRegisteredShare): the best version 9.9.9 does
    # not satisfy, so the first satisfying one in registration order
    (CONSUME_MULTIPLE, "^1.0.0", True, "mf2", "1.9.9", None),
    (CONSUME_MULTIPLE, "^2.3.0", True, "mf2", "2.9.9", None),
])
def test_cases_of_webpack_consume_multiple_versions(source, required, strict, runtime, version, message):
    consumer = E("consumer", None, required, package="shared", fallback=False, provides=False,
                 strict_version=strict)
    decisions, _ = run(("consumer", [consumer]), runtime=runtime,
                       loaded=[Loaded("shared", v, p) for v, p in _SCOPE])
    d = decisions["consumer"]
    assert d.version == version
    assert [e["message"] for e in d.errors] == ([message] if message else [])


def test_case_of_webpack_consume_multiple_versions_non_strict_warns_and_takes_the_latest():
    # CONSUME_MULTIPLE, shared2 (import: false, not strict) required "1.2.3 3.2.1": a warning with the range
    # as rangeToString prints it, then the latest version
    decisions, _ = run(("consumer", [E("consumer", None, "1.2.3 3.2.1", package="shared2", fallback=False,
                                       provides=False)]),
                       runtime="webpack", loaded=[Loaded("shared2", "9.9.9", "undefined")])
    d = decisions["consumer"]
    assert d.version == "9.9.9" and d.warnings[0]["message"].startswith(
        "No satisfying version (=1.2.3 =3.2.1) of shared module shared2 found in shared scope default")


@pytest.mark.parametrize("runtime", ["webpack", "mf2"])
def test_case_of_webpack_no_override_loaded(runtime):
    # webpack test/configCases/sharing/no-override-loaded/index.js: 1.0.0 loaded from "a" stays when the
    # application registers the same version (ShareRuntimeModule register: `!activeVersion.loaded`)
    decisions, result = run(("z", [E("z", "1.0.0", "^1.0.0", package="package")]), runtime=runtime,
                            loaded=[Loaded("package", "1.0.0", "a")])
    assert result.scope["default"]["package"]["1.0.0"].source == "a" == decisions["z"].source


@pytest.mark.parametrize("runtime,version", [("mf2", "19.2.7"), ("webpack", "19.2.7")])
def test_case_of_runtime_core_import_false_stub(runtime, version):
    # runtime-core __tests__/get-registered-share.spec.ts, "selects a lower-version real provider over a
    # higher import:false stub (19.2.8 vs 19.2.7)": an import: false consumer registers nothing
    decisions, result = run(("host", [E("host", "19.2.8", "^19.0.0", singleton=True, fallback=False, provides=False)]),
                            ("real", [E("real", "19.2.7", "^19.0.0", singleton=True)]), runtime=runtime)
    assert decisions["host"].version == version and list(result.scope["default"]["react"]) == ["19.2.7"]


def test_case_of_runtime_core_strict_singleton_against_a_lower_provider():
    # runtime-core __tests__/get-registered-share.spec.ts, "uses the consume-only stub strictVersion against
    # the selected real provider": throws /does not satisfy the requirement/
    decisions, _ = run(("consumer-stub", [E("consumer-stub", "19.2.8", "^19.2.8", singleton=True, strict_version=True,
                                            fallback=False, provides=False)]),
                       ("provider", [E("provider", "19.2.7", "^19.0.0", singleton=True)]), runtime="mf2")
    assert decisions["consumer-stub"].errors[0]["message"] == (
        "[ Federation Runtime ]: Version 19.2.7 from provider of shared singleton module react does not satisfy "
        "the requirement of consumer-stub which needs ^19.2.8)")
