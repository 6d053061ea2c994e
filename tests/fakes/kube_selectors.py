"""Label and field selectors of the FAKE Kubernetes API server.

Flow: a `labelSelector` / `fieldSelector` query string is parsed once into a list of
requirements (a bad one raises a 400 `FakeKubeError`, as a real server does), then `matches`
is called per object for lists, watches and Python-side subscriptions.

Label grammar (k8s.io/apimachinery/pkg/labels): `a=b`, `a==b`, `a!=b`, `a`, `!a`,
`a in (x,y)`, `a notin (x,y)`, comma-separated (commas inside parentheses belong to the set).
Field grammar: `path=v`, `path==v`, `path!=v`, where path is a dotted JSON path
(`metadata.name`, `status.phase`, `involvedObject.name`, `spec.nodeName`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.fakes.kube_errors import bad_request

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the label too, as on a real server.
        return not present or value not in self.values


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _check(pattern: str, text: str, what: str, selector: str) -> str:
    if not re.fullmatch(pattern, text):
        raise bad_request(f"unable to parse requirement: invalid {what} {text!r} in selector {selector!r}")
    return text


class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    _SET = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
    _CMP = re.compile(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$")

    def __init__(self, text: str | None) -> None:
        self.text = text or ""
        self.requirements: list[_Requirement] = []
        if not self.text.strip():
            return
        for part in _split_top_level(self.text):
            if not part:
                raise bad_request(f"unable to parse requirement: empty requirement in selector {self.text!r}")
            self.requirements.append(self._parse(part))

    def _parse(self, part: str) -> _Requirement:
        m = self._SET.match(part)
        if m:
            key = _check(_KEY, m.group(1), "label key", self.text)
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            for v in values:
                _check(_VALUE, v, "label value", self.text)
            return _Requirement(key, m.group(2), values)
        m = self._CMP.match(part)
        if m:
            key = _check(_KEY, m.group(1), "label key", self.text)
            value = _check(_VALUE, m.group(3), "label value", self.text)
            return _Requirement(key, "!=" if m.group(2) == "!=" else "=", (value,))
        if part.startswith("!"):
            return _Requirement(_check(_KEY, part[1:].strip(), "label key", self.text), "!")
        return _Requirement(_check(_KEY, part, "label key", self.text), "exists")

    def matches(self, obj: dict | None) -> bool:
        if not self.requirements:
            return True
        if obj is None:
            return False
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)


def _field_value(obj: dict, path: str) -> Any:
    current: Any = obj
    for segment in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(segment)
    return current


class FieldSelector:
    """A parsed field selector over dotted object paths; the empty selector matches everything."""

    _CMP = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$")

    def __init__(self, text: str | None) -> None:
        self.text = text or ""
        self.requirements: list[tuple[str, bool, str]] = []
        if not self.text.strip():
            return
        for part in _split_top_level(self.text):
            m = self._CMP.match(part)
            if not m:
                raise bad_request(f"invalid selector: {self.text!r}; can't understand {part!r}")
            self.requirements.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def matches(self, obj: dict | None) -> bool:
        if not self.requirements:
            return True
        if obj is None:
            return False
        for path, equal, wanted in self.requirements:
            value = _field_value(obj, path)
            # Field selectors compare string forms; an absent field reads as "".
            seen = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
            if (seen == wanted) != equal:
                return False
        return True


class Selector:
    """Both selectors together, as list and watch requests carry them."""

    def __init__(self, label_selector: str | None = None, field_selector: str | None = None) -> None:
        self.labels = LabelSelector(label_selector)
        self.fields = FieldSelector(field_selector)

    def matches(self, obj: dict | None) -> bool:
        return self.labels.matches(obj) and self.fields.matches(obj)
