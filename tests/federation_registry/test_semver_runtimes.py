"""Rule R13: each runtime's own semver, checked against the case tables of the runtimes' own tests.

Every table names the file its cases come from. Where webpack and MF 2.0 answer differently, both
answers are in `test_where_the_runtimes_differ`. Pure: no database."""
from __future__ import annotations

import pytest

from federation_registry.services import semver_mf2, semver_webpack

WEBPACK_SEMVER_TEST = "webpack test/SemVer.unittest.js"
MF2_SEMVER_TEST = "module-federation/core packages/runtime-core/__tests__/semver.spec.ts"

# webpack test/SemVer.unittest.js, describe("versionLt"): "a < b"
WEBPACK_VERSION_LT = [
    "1 < 2", "99 < 100", "1 < 1.2", "1 < 1.2.3", "1.2 < 1.2.3", "1.2.2 < 1.2.3", "1.1.3 < 1.2.0",
    "1.1.3 < 2.0.0", "1.1.3 < 2", "1.1.3 < 2.0", "1.2.3 < 1.2.3+0", "1.2.3+23 < 1.2.3+123", "1.2+2 < 1.2.3+1",
    "1.2.3-beta < 1.2.3", "1.2.3 < 1.2.4-beta", "1.2.3 < 1.3.0-beta", "1.2.3 < 2.0.0-beta",
    "1.2.3-alpha < 1.2.3-beta", "1.2.3-beta < 1.2.3.1", "1.2.3-beta < 1.2.3-beta.0", "1.2.3-beta.0 < 1.2.3-beta.1",
    "1.2.3-0 < 1.2.3-beta", "1.2.3-beta < 1.2.3-beta+123", "1.2.3-beta+123 < 1.2.3-beta+234",
    "1.2.3-beta+99 < 1.2.3-beta+111", "1.2.3-beta < 1.2.3+1", "1.0.0-alpha < 1.0.0-alpha.1",
    "1.0.0-alpha.1 < 1.0.0-alpha.beta", "1.0.0-alpha.beta < 1.0.0-beta", "1.0.0-beta < 1.0.0-beta.2",
    "1.0.0-beta.2 < 1.0.0-beta.11", "1.0.0-beta.11 < 1.0.0-rc.1", "1.0.0-rc.1 < 1.0.0", "2.2 < 2.beta",
    "2.2 < 2.beta.1", "2.2.1 < 2.beta.1", "2.2.1 < 2.beta", "2.2.3 < 2.beta.1", "2.alpha < 2.beta",
    "2.alpha.1 < 2.beta", "2.alpha.1 < 2.beta.1", "2.alpha < 2.beta.1",
]

# webpack test/SemVer.unittest.js, describe("parseRange"): each parses to the same range as its key
WEBPACK_SAME_RANGE = {
    "5 || 6 || 7.x.x": ["5.x.x || 6.x || 7"], "1 - 2": ["1   -   2"],
    "=3": ["3", "v3", "3.x", "3.X", "3.x.x", "3.*", "3.*.*", "^3", "^3.x", "= 3"],
    "=3.0": ["3.0", "v3.0", "3.0.x", "3.0.X", "3.0.*", "~3.0", "= 3.0"], "^3.4": ["^3.4.*", "^ 3.4"],
    "3.4 - 6.5": [">=3.4 <=6.5", ">= 3.4 <= 6.5"], "<=3.4": ["<3.4 || =3.4", "<= 3.4"], ">3.4": [">=3.4 !3.4", "> 3.4"],
    "1.2.3-alpha.x.x": ["1.2.3-alpha", "1.2.3-alpha+build.25"], "1.2.3-NaN": ["1.2.3-NaN"],
}

# webpack test/SemVer.unittest.js, describe("rangeToString"): how webpack prints a requiredVersion
WEBPACK_RANGE_TO_STRING = {
    "*": "*", "1": "^1", "1.2": "~1.2", "1.2.3": "=1.2.3", "^1.2.3": "^1.2.3", "~1.2.3": "~1.2.3", "0.0.1": "=0.0.1",
    "^0.0.1": "=0.0.1", "^0.1.2": "~0.1.2", "~0.0.1": "~0.0.1", "~0.1.2": "~0.1.2", ">=1.2.3": ">=1.2.3",
    "1.2.3-beta.25": "=1.2.3-beta.25", "1.2.3-beta.25+12.34": "=1.2.3-beta.25", "1.2.3+12.34": "=1.2.3",
    ">=1.2.3-beta.25": ">=1.2.3-beta.25", ">=1.2.3-beta.25+12.34": ">=1.2.3-beta.25", ">=1.2.3+12.34": ">=1.2.3",
    "<1.2.3-beta.25": "<1.2.3-beta.25", "<1.2.3-beta.25+12.34": "<1.2.3-beta.25", "<1.2.3+12.34": "<1.2.3",
    "1.2.3 - 3.2.1": ">=1.2.3 (<3.2.1 || =3.2.1)", ">3.4": ">=3.4 not(~3.4)", "1 || 2 || 3": "^1 || ^2 || ^3",
    "1.2.3 - 3.2.1 || >3 <=4 || 1": ">=1.2.3 (<3.2.1 || =3.2.1) || >=3 not(^3) (<4 || ^4) || ^1",
}

# webpack test/SemVer.unittest.js, describe("satisfies"): versions that satisfy the range, "!" those that do not
WEBPACK_SATISFIES = {
    ">=1": ["1", "2", "!1-beta", "!2-beta", "1.2", "!1.2-beta", "2.2", "!2.2-beta", "1.beta", "!1.beta-beta",
            "!2.beta-beta"],
    ">=1-beta": ["1", "2", "1-beta", "1-gamma", "!1-alpha", "!2-beta", "1.2", "!1.2-beta", "2.2", "!2.2-beta", "1.beta",
                 "!1.beta-beta", "2.beta", "!2.beta-beta"],
    ">=1.2": ["!1", "2", "!1-beta", "!2-beta", "!1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "1.beta", "2.beta"],
    "~1.2": ["!1", "!2", "!10", "!1-beta", "!2-beta", "!1.1", "1.2", "!1.3", "!1.20"],
    "~1": ["1", "1.1", "1.2", "1.2.1", "1.0.1", "1.1.1", "1.3.0", "!2.0.0", "!2.3.4", "!1.0.0-beta", "!1.1.0-beta"],
    ">=1.beta": ["!1", "2", "!1-beta", "!2-beta", "!1.2", "2.2", "!1.0", "!1.100", "!1.alpha", "1.beta", "1.gamma",
                 "2.beta"],
    "2": ["2", "2.0.0", "2.99.99", "!2.3.4-beta", "!2.3.4-beta.1", "!2.3.4-beta+123", "2.3.4+123", "!1", "!1.2.3",
          "!3", "!3.4.5"],
    "1.2.3-beta.1.2+33.44": ["1.2.3-beta.1.2+33.44", "1.2.3-beta.1.2+22", "1.2.3-beta.1.2+0", "1.2.3-beta.1.2",
                             "1.2.3-beta.1.2+33.44.55", "!1.2.3-beta.1.2.3+33.44", "!1.2.3.4-beta.1.2+33.44",
                             "1.2.3-beta.1.2+33", "!1.2.3-beta", "!1.2-beta.1.2+33.44", "!1.2.3+33.44", "!1.2.3", "!1"],
    "1.2.3+33.44": ["1.2.3+33.44", "!1.2.4+33.44", "1.2.3+22", "1.2.3+33.55", "!1.2.3-beta+33.44", "1.2.3+33.44.55",
                    "1.2.3+33", "!1.2+33.44", "!1.2.3.4+33.44", "1.2.3", "!1.2.4", "!1.3", "!1", "!2"],
    "1.2.3-beta.1.2": ["1.2.3-beta.1.2", "1.2.3-beta.1.2+33", "!1.2.3-beta.1.2.3", "!1.2.3.4-beta.1.2", "!1.2.3-beta",
                       "!1.2-beta.1.2", "!1.2.3+33", "!1.2.3", "!1"],
    "^2.3.4": ["2.3.4", "2.3.5", "2.4.0", "!3.3.4", "!1.5.6", "!2.3.3", "!2.3.4-beta", "!2.3.5-beta", "2.3.4.test",
               "2.3.test", "!2.3-test", "2.3.4+33", "2.3.5+33", "2.4.0+33", "2.3.4.5", "2.3.beta", "2.3.beta.1",
               "2.beta"],
    "^2.beta.4": ["2.beta.4", "!2.3.4", "2.beta.alpha", "2.beta.alpha+gamma", "!2.beta-4"],
    "~2": ["2.0.0", "2.1.0", "2.1.1", "2.2.0", "!1.0.0", "2.0.1", "2.1.2", "2.3.0", "!3.0.0", "!3.6.8", "!2.0.0-beta",
           "!2.1.0-beta"],
    "~2.3.4": ["2.3.4", "2.3.5", "!2.4.0", "!3.3.4", "!1.5.6", "!2.3.3", "!2.3.4-beta", "!2.3.5-beta", "2.3.4.test",
               "2.3.test", "!2.3-test", "2.3.4+33", "2.3.5+33", "!2.4.0+33", "2.3.4.5"],
    "~1.2.0-beta": ["1.2.0-beta", "1.2.0-beta+1", "1.2.0-rc.0", "1.2.0", "1.2.1", "!1.2.0-alpha", "!1.2.0-0",
                    "!1.2.0-100", "!1.2.1-beta", "!1.3.0-beta", "!1.3.0"],
    "!2.3": ["!2.3", "!2.3.4", "2.2", "2.2.2", "2.4", "2.4.4", "2.3-beta", "2.3.4-beta"],
    "<2.3": ["!2.3", "!2.3.4", "2", "2.2", "2.2.1", "1.5", "0.1", "!2.2-beta", "!2.3-beta", "!2.3-0"],
    "<4.5-beta.14": ["4.5-beta.13", "!4.5-beta.14", "!4.5-beta.15", "!4.5-beta.14.1", "4.5-beta.13.1", "4.5-beta.13+15",
                     "!4.5-beta.14+15", "4.5-0", "4.5-100", "4.5-alpha", "!4.5-gamma"],
    "2.3 - 4.5": ["2.3", "2.4", "!2.3-beta", "4.5", "3.0.0", "!3.5.7-beta.1", "4.4", "4.5", "4.5.1", "!4.5.2-beta",
                  "4.5+123"],
    ">7.8-beta.4": ["!7.8-beta.3", "!7.8-beta.4", "!7.8-beta.4+55", "7.8-beta.4.1", "7.8-beta.5", "7.8-beta.5.1",
                    "7.8-gamma", "!7.8-alpha", "7.8", "7.8.0", "7.8.1", "7.9", "8.1", "10"],
    "^0.0.3": ["!0.0.2", "0.0.3", "!0.0.4", "!0.1.0", "!0.1.3", "!1.1.3", "!1.0.0"],
    "^0.3.3": ["!0.0.3", "!0.3.2", "0.3.3", "0.3.4", "!0.4.0", "!0.4.3", "!0.5.10", "!1.0.0", "!1.3.3"],
    ">=1.0.0+42": ["1.0.0+42", "!1.0+42", "!1.0+43", "1.0.0+43", "1.0.0+5", "1.0.0+100", "2.0.0+10", "1.0.0",
                   "!1.0.0-beta"],
    "<1.0.1+42": ["!1.0.1+42", "!1.0.1+43", "!1.0.1+9", "!1.0.1+5", "!1.0.1+100", "!2.0.0+10", "!1.0.1", "1.0.0",
                  "1.0.0+0", "1.0.0+9999", "0.5.0", "!1.0.1-beta"],
    "=1.0.0+42": ["1.0.0+42", "!1.0+42", "1.0.0+43", "1.0.0+9", "1.0.0+5", "1.0.0+100", "!2.0.0+10", "1.0.0",
                  "!0.5.0", "!1.0.0-beta"],
    "!1.0.1+42": ["!1.0.1+42", "!1.0.1+43", "!1.0.1+9", "!1.0.1+5", "!1.0.1+100", "2.0.0+10", "!1.0.1", "1.0.0",
                  "1.0.2", "0.5.0", "1.0.1-beta"],
    "*": ["0.0.0", "0.0.1", "0.1.0", "1.0.0", "!1.0.0-beta", "!1.0.0-beta.1", "1.0.0+55"],
}

# module-federation/core packages/runtime-core/__tests__/semver.spec.ts: (version, range, expected)
MF2_SATISFY = [
    ("1.2.3", "~1.2.3", True), ("1.2.2", "~1.2.3", False), ("1.2.4", "~1.2.3", True), ("1.3.0", "~1.2.3", False),
    ("1.2.0", "~1.2", True), ("1.2.4", "~1.2", True), ("1.1.9", "~1.2", False), ("1.3.0", "~1.2", False),
    ("1.0.0", "~1", True), ("0.0.9", "~1", False), ("1.3.0", "~1", True), ("2.0.0", "~1", False),
    ("1.2.3", "^1.2.3", True), ("1.2.2", "^1.2.3", False), ("1.2.4", "^1.2.3", True), ("2.0.0", "^1.2.3", False),
    ("0.2.3", "^0.2.3", True), ("0.2.2", "^0.2.3", False), ("0.2.5", "^0.2.3", True), ("0.3.0", "^0.2.3", False),
    ("0.0.1", "^0.0.1", True), ("0.0.0", "^0.0.1", False), ("0.0.2", "^0.0.1", False),
    ("1.2.0", "^1.2", True), ("1.3.3", "^1.2", True), ("1.1.9", "^1.2", False), ("2.0.0", "^1.2", False),
    ("1.0.0", "^1", True), ("0.0.9", "^1", False), ("1.3.0", "^1", True), ("2.0.0", "^1", False),
    ("1.0.0", "1", True), ("0.0.9", "1", False), ("1.3.0", "1", True), ("2.0.0", "1", False),
    ("1.0.0", "*", True), ("0.0.9", "*", True), ("1.3.0", "*", True), ("2.0.0", "*", True),
    ("1.0.0", "x", True), ("0.0.9", "x", True), ("1.3.0", "x", True), ("2.0.0", "x", True),
    ("1.0.0", "1.x", True), ("0.0.9", "1.x", False), ("1.3.0", "1.x", True), ("2.0.0", "1.x", False),
    ("1.0.0", "1.*", True), ("0.0.9", "1.*", False), ("1.3.0", "1.*", True), ("2.0.0", "1.*", False),
    ("1.2.3", "1.2.3", True), ("1.2.2", "1.2.3", False), ("1.2.4", "1.2.3", False),
    ("1.2.3", "=1.2.3", True), ("1.2.2", "=1.2.3", False), ("1.2.4", "=1.2.3", False),
    ("1.2.3", ">1.2.3", False), ("1.2.2", ">1.2.3", False), ("1.2.4", ">1.2.3", True),
    ("1.2.3", "<1.2.3", False), ("1.2.2", "<1.2.3", True), ("1.2.4", "<1.2.3", False),
    ("1.2.3", ">=1.2.3", True), ("1.2.2", ">=1.2.3", False), ("1.2.4", ">=1.2.3", True),
    ("1.2.3", "<=1.2.3", True), ("1.2.2", "<=1.2.3", True), ("1.2.4", "<=1.2.3", False),
    ("1.2.3", "1.2.3 - 2.3.4", True), ("1.2.2", "1.2.3 - 2.3.4", False), ("1.3.3", "1.2.3 - 2.3.4", True),
    ("2.3.4", "1.2.3 - 2.3.4", True), ("2.3.5", "1.2.3 - 2.3.4", False),
    ("1.2.3", "1.2.3 - 2.3", True), ("1.2.2", "1.2.3 - 2.3", False), ("1.3.3", "1.2.3 - 2.3", True),
    ("2.3.9", "1.2.3 - 2.3", True), ("2.4.0", "1.2.3 - 2.3", False),
    ("1.2.3", "1.2.3 - 2", True), ("1.2.2", "1.2.3 - 2", False), ("1.3.3", "1.2.3 - 2", True),
    ("2.9.9", "1.2.3 - 2", True), ("3.0.0", "1.2.3 - 2", False),
    ("1.2.0", "1.2 - 2.3.0", True), ("1.1.0", "1.2 - 2.3.0", False), ("1.2.2", "1.2 - 2.3.0", True),
    ("1.3.3", "1.2 - 2.3.0", True), ("2.3.0", "1.2 - 2.3.0", True), ("2.4.0", "1.2 - 2.3.0", False),
    ("1.2.3-prerelease+build", "1.2.3-prerelease+build", True), ("1.2.3-prerelease", "1.2.3-prerelease+build", True),
    ("4.0.0", "4.0.0-alpha.57", False), ("4.0.0-alpha.57", "4.0.0-alpha.57", True),
    ("4.0.0-alpha.58", "4.0.0-alpha.57", False), ("4.0.0-alpha.56", "4.0.0-alpha.57", False),
    ("4.0.0", "^4.0.0-alpha.57", True), ("4.0.0-alpha.58", "^4.0.0-alpha.57", True),
    ("4.0.0-alpha.56", "^4.0.0-alpha.57", False), ("4.0.0-beta.56", "^4.0.0-alpha.57", True),
    ("4.0.0-alpha.58", "^4.0.0-beta.57", False),
]


def _expand(table: dict) -> list[tuple[str, str, bool]]:
    return [(spec, item.lstrip("!"), not item.startswith("!")) for spec, items in table.items() for item in items]


@pytest.mark.parametrize("case", WEBPACK_VERSION_LT)
def test_webpack_version_lt(case):  # source: webpack test/SemVer.unittest.js, "versionLt"
    a, b = case.split(" < ")
    lt = semver_webpack.version_lt
    assert (lt(a, a), lt(b, b), lt(a, b), lt(b, a)) == (False, False, True, False)


@pytest.mark.parametrize("key,same", [(k, s) for k, items in WEBPACK_SAME_RANGE.items() for s in items])
def test_webpack_parse_range(key, same):  # source: webpack test/SemVer.unittest.js, "parseRange"
    assert semver_webpack.parse_range(same) == semver_webpack.parse_range(key)


@pytest.mark.parametrize("spec,printed", list(WEBPACK_RANGE_TO_STRING.items()))
def test_webpack_range_to_string(spec, printed):  # source: webpack test/SemVer.unittest.js, "rangeToString"
    assert semver_webpack.range_to_string(spec) == printed


@pytest.mark.parametrize("spec,version,expected", _expand(WEBPACK_SATISFIES))
def test_webpack_satisfies(spec, version, expected):  # source: webpack test/SemVer.unittest.js, "satisfies"
    assert semver_webpack.satisfies(version, spec) is expected


@pytest.mark.parametrize("version,spec,expected", MF2_SATISFY)
def test_mf2_satisfy(version, spec, expected):  # source: runtime-core __tests__/semver.spec.ts
    assert semver_mf2.satisfies(version, spec) is expected


# Where the runtimes answer differently (each answer read from its source: webpack lib/util/semver.js
# satisfy/versionLt; runtime-core src/utils/semver/index.ts satisfy, compare.ts, share.ts versionLt)
@pytest.mark.parametrize("version,spec,webpack,mf2", [
    ("1.1.0-beta.1", "^1.0.0", False, True),        # MF 2.0 checks each comparator alone: no pre-release exclusion
    ("2.0.0-rc.1", ">=1.0.0", False, True),
    ("1.0.0-beta", "*", False, True),               # webpack's "*" case; MF 2.0's "*" is no comparator at all
    ("18", "^18", True, False),                     # MF 2.0 satisfy wants x.y.z; webpack takes any number of parts
    ("18", "^18.0.0", False, False),                # webpack: 18 has fewer parts, so it sorts below 18.0.0
    ("1.2.3.4", "^1.2.3", True, False),
    ("2.3.beta", "^2.3.4", True, False),             # webpack: a string part sorts above any number
    ("3.1.0", "1.x || >=3.0.0", True, False),       # MF 2.0 has no "||": the token is not a comparator
    ("1.2.4", "> 1.2.3 < 1.2.5", True, False),      # MF 2.0 trims only the first "op version" gap
    ("4.0.0", "4.0.0-alpha.57", False, False),
    ("1.2.3-beta.1.2+0", "1.2.3-beta.1.2+33.44", True, True),
])
def test_where_the_runtimes_differ(version, spec, webpack, mf2):
    assert semver_webpack.satisfies(version, spec) is webpack
    assert semver_mf2.satisfies(version, spec) is mf2


@pytest.mark.parametrize("a,b,webpack,mf2", [
    ("1.2.3", "1.2.3", False, True),                # runtime-core versionLt is satisfy(a, "<=b")
    ("1.2.3", "1.2.3+0", True, True),               # webpack: build metadata sorts higher; MF 2.0 ignores it: equal
    ("1.2.3+0", "1.2.3", False, True),
    ("1.2", "1.2.3", True, True),                   # webpack: fewer parts lower; MF 2.0 pads "1.2" to 1.2.0
    ("2.2", "2.beta", True, False),                 # webpack: a number below a string; MF 2.0 cannot parse 2.beta
    ("1.0.0-alpha.1", "1.0.0-alpha", False, True),  # MF 2.0: a longer pre-release sorts below its prefix
])
def test_version_order_where_the_runtimes_differ(a, b, webpack, mf2):
    assert semver_webpack.version_lt(a, b) is webpack
    assert semver_mf2.version_lt(a, b) is mf2


@pytest.mark.parametrize("spec,webpack,mf2", [
    ("^1.2.3", True, True), ("1.x || >=3.0.0", True, False), ("*", True, True), ("", True, True),
    ("^^1", False, False), ("1..2", False, False), ("latest", True, False), ("not a range!", False, False),
])
def test_which_ranges_each_runtime_accepts(spec, webpack, mf2):
    assert semver_webpack.accepts_range(spec) is webpack
    assert semver_mf2.accepts_range(spec) is mf2
