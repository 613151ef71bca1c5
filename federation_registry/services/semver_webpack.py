"""webpack 5's own semver, as its sharing runtime evaluates it in the browser (lib/util/semver.js,
inlined by ConsumeSharedRuntimeModule). Written from its semantics, not npm's:

- a version is a list of parts: numbers, strings, PRE (the "-" before a pre-release) and BUILD
  (the "+" before build metadata), so "1.2" and "1.2.3.4" are versions too;
- ordering (version_lt): fewer parts sort lower (1 < 1.2), build metadata sorts higher
  (1.2.3 < 1.2.3+0), a number sorts below a string (2.2 < 2.beta);
- a range is a leaf [fix_count, *parts] (how many leading parts must be equal; negative for "<")
  or a postfix expression [None, *operands_and_operators] with 0 = not, 1 = or, 2 = and;
- a pre-release satisfies only a range whose parts reach into the same pre-release area.
Ranges print in webpack's normalised form (range_to_string): "1.2.3" prints "=1.2.3".
"""
from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["parse_version", "version_lt", "parse_range", "range_to_string", "satisfy", "satisfies",
           "accepts_range", "PRE", "BUILD"]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


PRE = None  # JavaScript's hole ("undefined") in the parsed array
BUILD = _Marker("BUILD")  # JavaScript's [] (an object) before build metadata

_VERSION = re.compile(r"^([^-+]+)?(?:-([^+]+))?(?:\+(.+))?$", re.S)
_OPERATOR = re.compile(r"^(\^|~|<=|<|>=|>|=|v|!)")
_WILDCARD = re.compile(r"^[*xX]$")


def _kind(part) -> str:
    """The first letter of JavaScript's typeof, which the comparison tables are written in."""
    if part is PRE:
        return "u"
    if part is BUILD:
        return "o"
    return "n" if isinstance(part, int) else "s"


def _version_parts(text: str) -> list:
    # parseVersion converts with `+item == item`: loose ("01" and "" are numbers too)
    return [int(p) if p.isdigit() else 0 if p == "" else p for p in text.split(".")]


def _range_parts(text: str) -> list:
    # parseRange converts with `${+item}` === item: strict ("01" stays a string)
    return [int(p) if re.fullmatch(r"0|[1-9][0-9]*", p) else p for p in text.split(".")]


@lru_cache(maxsize=65536)
def _parse_version(text: str) -> tuple:
    match = _VERSION.match(text)
    if match is None:  # only a string holding a newline-free "-+" oddity; webpack would throw
        return ()
    parts = _version_parts(match[1]) if match[1] else []
    if match[2]:
        parts += [PRE, *_version_parts(match[2])]
    if match[3]:
        parts += [BUILD, *_version_parts(match[3])]
    return tuple(parts)


def parse_version(text: str) -> list:
    return list(_parse_version(text))


@lru_cache(maxsize=262144)
def version_lt(a: str, b: str) -> bool:
    """True if `a` sorts before `b` (webpack's versionLt)."""
    pa, pb = _parse_version(a), _parse_version(b)
    i = 0
    while True:
        if i >= len(pa):  # a ended: lower unless b ends too or continues into a pre-release
            return i < len(pb) and _kind(pb[i]) != "u"
        ka = _kind(pa[i])
        if i >= len(pb):  # b ended: a is lower only if it continues into a pre-release
            return ka == "u"
        kb = _kind(pb[i])
        if ka == kb:
            if ka not in ("o", "u") and pa[i] != pb[i]:
                return pa[i] < pb[i]
            i += 1
            continue
        if ka == "o" and kb == "n":  # build metadata below a number (1.2+2 < 1.2.3)
            return True
        return kb == "s" or ka == "u"  # a number below a string; a pre-release below anything else


def _partial(text: str) -> list:
    match = _VERSION.match(text)
    parts = [0, *_range_parts(match[1])] if match and match[1] else [0]
    if match and match[2]:
        parts += [PRE, *_range_parts(match[2])]
    # trailing wildcards and pre-release markers say nothing: drop them ("3.x" is "3")
    while parts and (parts[-1] is PRE or (isinstance(parts[-1], str) and _WILDCARD.match(parts[-1]))):
        parts.pop()
    return parts


def _fixed(r: list) -> list:
    # "" is "*", "1" is "1.x.x", "1.2" is "1.2.x": an exact range fixes at most what was written
    if len(r) == 1:
        return [0]
    return [len(r) - 1 if len(r) <= 3 else len(r), *r[1:]]


def _negated(r: list) -> list:
    return [-r[0] - 1, *r[1:]]


def _simple(text: str) -> list:
    match = _OPERATOR.match(text)
    op = match[0] if match else ""
    rest = _partial(text[len(op):].strip())
    if op == "^":
        if len(rest) > 1 and rest[1] == 0:
            return [3 if len(rest) > 2 and rest[2] == 0 else 2, *rest[1:]]
        return [1, *rest[1:]]
    if op == "~":
        return [1 if len(rest) == 2 else 2, *rest[1:]]
    if op == ">=":
        return rest
    if op in ("=", "v", ""):
        return _fixed(rest)
    if op == "<":
        return _negated(rest)
    if op == ">":  # >= and not =
        return [None, _fixed(rest), 0, rest, 2]
    if op == "<=":  # < or =
        return [None, _fixed(rest), _negated(rest), 1]
    return [None, _fixed(rest), 0]  # "!": not =


def _combine(items: list[list], operator: int) -> list:
    if len(items) == 1:
        return items[0]
    out: list = []
    for item in reversed(items):
        out.extend([item] if item[0] is not None else item[1:])
    return [None, *out, *[operator] * (len(items) - 1)]


def _and_range(text: str) -> list:
    sides = re.split(r"\s+-\s+", text)
    if len(sides) == 1:
        return _combine([_simple(s) for s in re.split(r"(?<=[-0-9A-Za-z])\s+", text.strip())], 2)
    low, high = _partial(sides[0]), _partial(sides[1])
    return [None, _fixed(high), _negated(high), 1, low, 2]  # >=low and (<high or =high)


@lru_cache(maxsize=65536)
def _parse_range(text: str) -> tuple:
    return _freeze(_combine([_and_range(s) for s in re.split(r"\s*\|\|\s*", text)], 1))


def _freeze(r):
    return tuple(_freeze(x) if isinstance(x, list) else x for x in r)


def parse_range(text: str) -> list:
    def thaw(r):
        return [thaw(x) if isinstance(x, tuple) else x for x in r]
    return thaw(_parse_range(text))


def range_to_string(r) -> str:
    """webpack's rangeToString: what its warnings and errors print for a requiredVersion."""
    if isinstance(r, str):
        r = _parse_range(r)
    if len(r) == 1:
        return "*"
    fix = r[0]
    if fix is not None:
        text = {0: ">=", -1: "<", 1: "^", 2: "~"}.get(fix, "=" if fix > 0 else "!=")
        need_dot = 1
        for part in r[1:]:
            need_dot -= 1
            if part is PRE:
                text += "-"
            else:
                text += ("." if need_dot > 0 else "") + str(part)
                need_dot = 2
        return text
    stack: list[str] = []

    def pop() -> str:  # an outermost pair of parentheses is dropped
        return re.sub(r"^\((.+)\)$", r"\1", stack.pop(), flags=re.S)

    for item in r[1:]:
        if isinstance(item, (list, tuple)):
            stack.append(range_to_string(item))
        elif item == 0:
            stack.append(f"not({pop()})")
        elif item == 1:
            first = pop()
            stack.append(f"({first} || {pop()})")
        else:
            first = stack.pop()
            stack.append(f"{first} {stack.pop()}")
    return pop()


def _leaf_satisfied(r, version: tuple) -> bool:
    fix, negated = r[0], r[0] < 0
    if negated:
        fix = -fix - 1
    i, j, equal = 0, 1, True
    while True:
        range_kind = _kind(r[j]) if j < len(r) else ""
        if i >= len(version) or _kind(version[i]) == "o":  # the version ended (build metadata is ignored)
            if not equal:
                return True
            if range_kind == "u":  # the range continues into a pre-release: the version is bigger
                return j > fix and not negated
            return (range_kind == "") != negated
        part = version[i]
        kind = _kind(part)
        if kind == "u":  # a pre-release is only reachable while equal and with a pre-release range
            if not equal or range_kind != "u":
                return False
        elif equal:
            if range_kind == kind:
                if j <= fix:
                    if part != r[j]:
                        return False
                else:
                    if (part > r[j]) if negated else (part < r[j]):
                        return False
                    if part != r[j]:
                        equal = False
            elif range_kind not in ("s", "n"):  # the range ended or is in a pre-release: version is bigger
                if negated or j <= fix:
                    return False
                equal = False
                j -= 1
            elif j <= fix or ((kind < range_kind) != negated):  # number against string
                return False
            else:
                equal = False
        elif range_kind not in ("s", "n"):
            equal = False
            j -= 1
        i += 1
        j += 1


def satisfy(r, version: str) -> bool:
    """webpack's satisfy(range, version) on a parsed range."""
    if r[0] is not None:
        return _leaf_satisfied(r, _parse_version(version))
    stack: list[bool] = []
    for item in r[1:]:
        if isinstance(item, (list, tuple)):
            stack.append(satisfy(item, version))
        elif item == 0:
            stack.append(not stack.pop())
        elif item == 1:
            a, b = stack.pop(), stack.pop()
            stack.append(a or b)
        else:
            a, b = stack.pop(), stack.pop()
            stack.append(a and b)
    return bool(stack.pop())


@lru_cache(maxsize=262144)
def satisfies(version: str, spec: str) -> bool:
    return satisfy(_parse_range(spec), version)


_PART = re.compile(r"^(?:[0-9A-Za-z-]+|[*xX])$")


def accepts_range(spec: str) -> bool:
    """webpack parses any string; a range "accepted" here is one whose every version part is an
    identifier (what its grammar in lib/util/semver.js names), so "^^1" or "1..2" is not."""
    for alternative in re.split(r"\s*\|\|\s*", spec):
        sides = re.split(r"\s+-\s+", alternative)
        simples = sides if len(sides) > 1 else re.split(r"(?<=[-0-9A-Za-z])\s+", alternative.strip())
        for simple in simples:
            match = _OPERATOR.match(simple)
            body = simple[len(match[0]) if match else 0:].strip()
            if not body:
                if simple.strip() or len(simples) > 1 or len(sides) > 1:
                    return False
                continue
            version = _VERSION.match(body)
            if version is None or not version[1]:
                return False
            for group in (version[1], version[2], version[3]):
                if group is not None and not all(_PART.match(p) for p in group.split(".")):
                    return False
    return True
