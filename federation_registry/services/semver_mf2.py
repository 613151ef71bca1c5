"""The Module Federation 2.0 runtime's own semver (@module-federation/runtime-core
src/utils/semver/, a fork of vite-plugin-federation's), written from its semantics. It differs
from npm's and from webpack's, and resolution must follow it where MF 2.0 decides:

- no pre-release exclusion: 1.1.0-beta.1 satisfies ^1.0.0 (each comparator is checked alone);
- no `||`: a range holding one never matches (its "||" token is not a comparator);
- versions must be full x.y.z ("18" satisfies nothing; versionLt pads numeric ones first);
- pre-release parts compare as JavaScript does: numbers numerically, words in code-unit order,
  and a longer pre-release sorts lower than its own prefix (1.0.0-alpha.1 < 1.0.0-alpha);
- versionLt(a, b) is satisfy(a, "<=b"): true for equal versions too.
"""
from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["satisfies", "version_lt", "accepts_range", "comparators"]

_NUM = r"0|[1-9]\d*"
_WORD = r"\d*[a-zA-Z-][a-zA-Z0-9-]*"
_PRE = rf"(?:-((?:{_NUM}|{_WORD})(?:\.(?:{_NUM}|{_WORD}))*))"
_PRE_LOOSE = rf"(?:-?((?:[0-9]+|{_WORD})(?:\.(?:[0-9]+|{_WORD}))*))"
_BUILD = r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))"
_X = rf"{_NUM}|x|X|\*"
_X_PLAIN = rf"[v=\s]*({_X})(?:\.({_X})(?:\.({_X})(?:{_PRE})?{_BUILD}?)?)?"
_LOOSE_PLAIN = rf"[v=\s]*([0-9]+)\.([0-9]+)\.([0-9]+){_PRE_LOOSE}?{_BUILD}?"
_GTLT = r"((?:<|>)?=?)"

_HYPHEN = re.compile(rf"^\s*({_X_PLAIN})\s+-\s+({_X_PLAIN})\s*$")
_COMPARATOR_TRIM = re.compile(rf"(\s*){_GTLT}\s*({_LOOSE_PLAIN}|{_X_PLAIN})")
_TILDE_TRIM = re.compile(r"(\s*)(?:~>?)\s+")
_CARET_TRIM = re.compile(r"(\s*)(?:\^)\s+")
_STAR = re.compile(r"(<|>)?=?\s*\*")
_CARET = re.compile(rf"^(?:\^){_X_PLAIN}$")
_TILDE = re.compile(rf"^(?:~>?){_X_PLAIN}$")
_X_RANGE = re.compile(rf"^{_GTLT}\s*{_X_PLAIN}$")
_COMPARATOR = re.compile(rf"^{_GTLT}\s*(v?({_NUM})\.({_NUM})\.({_NUM}){_PRE}?{_BUILD}?)$|^$")
_GTE0 = re.compile(r"^\s*>=\s*0.0.0\s*$")


def _is_x(part: str | None) -> bool:
    return not part or part.lower() == "x" or part == "*"


def _hyphen(m: re.Match) -> str:
    whole_from, f_major, f_minor, f_patch = m[1], m[2], m[3], m[4]
    whole_to, t_major, t_minor, t_patch, t_pre = m[7], m[8], m[9], m[10], m[11]
    low = ("" if _is_x(f_major) else f">={f_major}.0.0" if _is_x(f_minor)
           else f">={f_major}.{f_minor}.0" if _is_x(f_patch) else f">={whole_from}")
    high = ("" if _is_x(t_major) else f"<{int(t_major) + 1}.0.0-0" if _is_x(t_minor)
            else f"<{t_major}.{int(t_minor) + 1}.0-0" if _is_x(t_patch)
            else f"<={t_major}.{t_minor}.{t_patch}-{t_pre}" if t_pre else f"<={whole_to}")
    return f"{low} {high}".strip()


def _caret(m: re.Match) -> str:
    major, minor, patch, pre = m[1], m[2], m[3], m[4]
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        upper = f"{major}.{int(minor) + 1}.0-0" if major == "0" else f"{int(major) + 1}.0.0-0"
        return f">={major}.{minor}.0 <{upper}"
    low = f">={major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    upper = (f"{int(major) + 1}.0.0-0" if major != "0" else f"{major}.{int(minor) + 1}.0-0" if minor != "0"
             else f"{major}.{minor}.{int(patch) + 1}-0")
    return f"{low} <{upper}"


def _tilde(m: re.Match) -> str:
    major, minor, patch, pre = m[1], m[2], m[3], m[4]
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    low = f">={major}.{minor}." + ("0" if _is_x(patch) else patch + (f"-{pre}" if pre else ""))
    return f"{low} <{major}.{int(minor) + 1}.0-0"


def _x_range(m: re.Match) -> str:
    op, major, minor, patch = m[1], m[2], m[3], m[4]
    x_major = _is_x(major)
    x_minor = x_major or _is_x(minor)
    x_patch = x_minor or _is_x(patch)
    if op == "=" and x_patch:
        op = ""
    if x_major:
        return "<0.0.0-0" if op in (">", "<") else "*"
    if op and x_patch:
        minor = "0" if x_minor else minor
        patch = "0"
        if op == ">":  # >1 is >=2.0.0, >1.2 is >=1.3.0
            op = ">="
            major, minor = (str(int(major) + 1), "0") if x_minor else (major, str(int(minor) + 1))
        elif op == "<=":  # <=1.2 is <1.3.0
            op = "<"
            major, minor = (str(int(major) + 1), minor) if x_minor else (major, str(int(minor) + 1))
        return f"{op}{major}.{minor}.{patch}" + ("-0" if op == "<" else "")
    if x_minor:
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if x_patch:
        return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0-0"
    return m[0]


def _each(text: str, pattern: re.Pattern, rewrite) -> str:
    return " ".join(pattern.sub(rewrite, token.strip(), count=1) for token in re.split(r"\s+", text.strip()))


@lru_cache(maxsize=65536)
def comparators(spec: str) -> tuple[str, ...]:
    """The comparators MF 2.0 checks one by one (all must hold)."""
    text = _HYPHEN.sub(_hyphen, spec.strip(), count=1)
    # the trims replace only their first occurrence: "> 1.2.3 < 1.2.5" keeps a lone "<"
    text = _COMPARATOR_TRIM.sub(r"\1\2\3", text, count=1)
    text = _TILDE_TRIM.sub(r"\1~", text, count=1)
    text = _CARET_TRIM.sub(r"\1^", text, count=1)
    text = " ".join(re.split(r"\s+", text))
    rewritten = []
    for token in text.split(" "):
        token = _each(token, _CARET, _caret)
        token = _each(token, _TILDE, _tilde)
        token = _each(token, _X_RANGE, _x_range)
        rewritten.append(_STAR.sub("", token.strip(), count=1))
    return tuple(_GTE0.sub("", c.strip(), count=1) for c in re.split(r"\s+", " ".join(rewritten)))


def _js_number(text: str):
    if text == "":
        return 0
    return int(text) if text.isdigit() else None  # None: NaN


def _atom(value: str):
    # compareAtom's `Number(x) || x`: "0" stays a string (0 is falsy), "12" becomes 12
    number = _js_number(value)
    return number if number else value


def _js_gt(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a > b  # code-unit order (ASCII here)
    a = _js_number(a) if isinstance(a, str) else a
    b = _js_number(b) if isinstance(b, str) else b
    return a is not None and b is not None and a > b


def _compare_atom(range_part: str, version_part: str) -> int:
    r, v = _atom(range_part), _atom(version_part)
    if _js_gt(r, v):
        return 1
    return 0 if type(r) is type(v) and r == v else -1


def _compare_pre(range_pre: list | None, version_pre: list | None) -> int:
    if range_pre is None:
        return 1 if version_pre else 0
    if version_pre is None:
        return -1
    for i in range(len(range_pre) + 1):
        r = range_pre[i] if i < len(range_pre) else None
        v = version_pre[i] if i < len(version_pre) else None
        if r == v:
            if r is None:
                return 0
            continue
        if not r:  # the range's pre-release ended first: the range sorts higher
            return 1
        if not v:
            return -1
        return _compare_atom(r, v)
    return 0


def _compare_version(r: re.Match, v: re.Match) -> int:
    for index in (3, 4, 5):
        result = _compare_atom(r[index], v[index])
        if result:
            return result
    return _compare_pre(r[6].split(".") if r[6] else None, v[6].split(".") if v[6] else None)


def _core(m: re.Match) -> str:
    return f"{m[3]}.{m[4]}.{m[5]}" + (f"-{m[6]}" if m[6] else "")  # build metadata excluded


@lru_cache(maxsize=262144)
def satisfies(version: str, spec: str) -> bool:
    """MF 2.0's satisfy(version, range)."""
    if not version:
        return False
    v = _COMPARATOR.match(version)
    if v is None or v[2] is None:
        return False
    for comparator in comparators(spec):
        r = _COMPARATOR.match(comparator)
        if r is None:
            return False
        op = r[1] if r[2] is not None else None
        if op is None:  # "" (from "*" or "x"): any version
            continue
        equal = _core(r) == _core(v)
        order = _compare_version(r, v)
        if not {"": equal, "=": equal, ">": order < 0, ">=": equal or order < 0, "<": order > 0,
                "<=": equal or order > 0}.get(op, False):
            return False
    return True


def _padded(version: str) -> str:
    # transformInvalidVersion: a numeric version ("18", "18.2") gets ".0" parts up to three
    try:
        float(version)
    except ValueError:
        return version
    return version + ".0" * max(0, 3 - len(version.split(".")))


@lru_cache(maxsize=262144)
def version_lt(a: str, b: str) -> bool:
    """runtime-core share.ts versionLt: satisfy(a, `<=b`), so equal versions count as lower."""
    return satisfies(_padded(a), f"<={_padded(b)}")


def accepts_range(spec: str) -> bool:
    """A range MF 2.0 can evaluate: every comparator it reduces to is one it parses."""
    return all(_COMPARATOR.match(c) for c in comparators(spec))
