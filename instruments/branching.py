"""Branching conditions: when an item is shown, in REDCap's syntax.

``[in_paid_work] = '1'``, ``[phq9_1] >= 2 and ([sex] = "f" or [age] < 30)``,
``[symptoms(2)] = '1'`` (a multiple-choice item's option 2 is ticked), ``not [x] = ''``.
Operators: ``= <> != < > <= >=``, ``and``, ``or``, ``not``, parentheses. A condition is parsed
once into a small tree (never ``eval``) and evaluated over one record's clean values.

Comparison follows REDCap: both sides are compared as numbers when both read as numbers, else
as text; a yes/no answer reads as ``1``/``0``; an unanswered item reads as ``''``, so
``[x] = ''`` holds and ``[x] > 3`` does not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ref>\[(?P<name>[a-z][a-z0-9_]*)(?:\((?P<option>[^()\[\]]+)\))?\])
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<word>and|or|not)\b
      | (?P<paren>[()])
    )""",
    re.VERBOSE | re.IGNORECASE,
)


class ConditionError(ValueError):
    """A condition that cannot be parsed; the message says where."""


@dataclass(frozen=True)
class Ref:
    name: str
    option: str | None = None


@dataclass(frozen=True)
class Compare:
    left: Ref | str
    op: str
    right: Ref | str


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Compare | BoolOp | Not


def _tokens(text: str) -> list[tuple[str, str, Ref | None]]:
    out: list[tuple[str, str, Ref | None]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ConditionError(
                f"cannot read the condition at character {position + 1}: "
                f"{text[position : position + 12]!r}"
            )
        position = match.end()
        kind = match.lastgroup
        if match.group("ref"):
            option = match.group("option")
            out.append(
                (
                    "ref",
                    match.group(0).strip(),
                    Ref(match.group("name").lower(), option.strip() if option else None),
                )
            )
        elif match.group("string") is not None:
            out.append(("value", match.group("string")[1:-1], None))
        elif match.group("number") is not None:
            out.append(("value", match.group("number"), None))
        elif match.group("op"):
            out.append(("op", "<>" if match.group("op") == "!=" else match.group("op"), None))
        elif match.group("word"):
            out.append((match.group("word").lower(), match.group("word").lower(), None))
        else:
            out.append((match.group("paren"), match.group("paren"), None))
        del kind
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str, Ref | None]:
        if self.index >= len(self.tokens):
            raise ConditionError("the condition ends too early")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.disjunction()
        if self.index != len(self.tokens):
            raise ConditionError(f"unexpected {self.tokens[self.index][1]!r}")
        return node

    def disjunction(self) -> Node:
        parts = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def conjunction(self) -> Node:
        parts = [self.negation()]
        while self.peek() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def negation(self) -> Node:
        if self.peek() == "not":
            self.take()
            return Not(self.negation())
        if self.peek() == "(":
            self.take()
            node = self.disjunction()
            if self.take()[0] != ")":
                raise ConditionError("a parenthesis is not closed")
            return node
        return self.comparison()

    def operand(self) -> Ref | str:
        kind, text, ref = self.take()
        if kind == "ref" and ref is not None:
            return ref
        if kind == "value":
            return text
        raise ConditionError(f"expected [item] or a value, found {text!r}")

    def comparison(self) -> Node:
        left = self.operand()
        kind, op, _ref = self.take()
        if kind != "op":
            raise ConditionError(f"expected a comparison (=, <>, <, >, <=, >=), found {op!r}")
        right = self.operand()
        return Compare(left, op, right)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Node | None:
    """The condition's tree, or ``None`` for an empty condition (always shown).

    Raises ConditionError with the position of the fault. Kept per text: a tree is immutable,
    and every answer checked reads its items' conditions (an import checks thousands)."""
    if not text or not text.strip():
        return None
    return _Parser(text).parse()


def references(node: Node | None) -> list[Ref]:
    """The items a condition reads, in order."""
    if node is None:
        return []
    if isinstance(node, Compare):
        return [side for side in (node.left, node.right) if isinstance(side, Ref)]
    if isinstance(node, Not):
        return references(node.part)
    return [ref for part in node.parts for ref in references(part)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _resolve(side: Ref | str, values: Mapping[str, Any]) -> str:
    if isinstance(side, str):
        return side
    value = values.get(side.name)
    if side.option is not None:
        ticked = value if isinstance(value, list | tuple | set) else []
        return "1" if side.option in {_text(v) for v in ticked} else "0"
    return _text(value)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text != "" else None
    except InvalidOperation:
        return None


def _compare(left: str, op: str, right: str) -> bool:
    a, b = _number(left), _number(right)
    pair: tuple[Any, Any] = (a, b) if a is not None and b is not None else (left, right)
    if op in {"<", ">", "<=", ">="} and (a is None or b is None):
        return False  # REDCap: an unanswered or non-numeric side never orders
    x, y = pair
    return {
        "=": x == y,
        "<>": x != y,
        "<": x < y,
        ">": x > y,
        "<=": x <= y,
        ">=": x >= y,
    }[op]


def evaluate(node: Node | None, values: Mapping[str, Any]) -> bool:
    """Whether the condition holds for one record's clean values (``None`` holds)."""
    if node is None:
        return True
    if isinstance(node, Compare):
        return _compare(_resolve(node.left, values), node.op, _resolve(node.right, values))
    if isinstance(node, Not):
        return not evaluate(node.part, values)
    results = (evaluate(part, values) for part in node.parts)
    return all(results) if node.op == "and" else any(results)
