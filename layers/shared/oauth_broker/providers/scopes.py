"""Which scopes authorize a Gmail or People API call: `google_methods.json` as a path matcher.

The table is generated from Google's discovery documents by `scripts/gen_scope_table.py`. The proxy
asks `MethodScopeTable.load().match(path, http_method)` for the concrete path it forwards (relative
to the API host, e.g. `gmail/v1/users/me/messages/18c2...`); the answer names the method, its path
parameters and the scopes any one of which authorizes it. An unknown path answers None.

Matching walks a segment trie built once per process (per HTTP method), so a lookup costs about one
dict probe a segment; literal segments are tried before parameters, so the most specific template
wins (`messages/send` beats `messages/{id}`). Only the standard library is imported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["GOOGLE_METHODS_PATH", "MatchedMethod", "MethodScopeTable", "MethodTemplate"]

GOOGLE_METHODS_PATH = Path(__file__).with_name("google_methods.json")

_PARAM_RE = re.compile(r"\{(\+?)([A-Za-z_][A-Za-z0-9_.]*)\}")


@dataclass(frozen=True, slots=True)
class MethodTemplate:
    """One row of the table: a method and the path template it answers on."""

    api: str
    id: str
    http_method: str
    path: str
    scopes: frozenset[str]
    upload: bool = False


@dataclass(frozen=True, slots=True)
class MatchedMethod:
    """A concrete request matched to a method; any one of `scopes` authorizes it."""

    api: str
    id: str
    http_method: str
    template: str
    params: dict[str, str] = field(hash=False)
    scopes: frozenset[str]
    upload: bool = False

    def authorized_by(self, granted: Iterable[str]) -> bool:
        """Whether the granted scopes include one of this method's scopes (exact match only)."""
        return not self.scopes.isdisjoint(granted)


@dataclass(frozen=True, slots=True)
class _Segment:
    """A template segment with one parameter: `{name}`, or with literal text around it (`{id}:enable`)."""

    prefix: str
    suffix: str

    def capture(self, segment: str) -> str | None:
        if len(segment) <= len(self.prefix) + len(self.suffix):
            return None
        if not (segment.startswith(self.prefix) and segment.endswith(self.suffix)):
            return None
        return segment[len(self.prefix) : len(segment) - len(self.suffix)]


class _Node:
    __slots__ = ("literals", "params", "rests", "terminal")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.params: list[tuple[_Segment, _Node]] = []  # most specific (longest literal text) first
        self.rests: list[tuple[str, _Node]] = []  # `{+name}suffix`: one or more segments
        self.terminal: tuple[MethodTemplate, tuple[str, ...]] | None = None

    def param_child(self, pattern: _Segment) -> _Node:
        for existing, child in self.params:
            if existing == pattern:
                return child
        child = _Node()
        self.params.append((pattern, child))
        self.params.sort(key=lambda item: -(len(item[0].prefix) + len(item[0].suffix)))
        return child

    def rest_child(self, suffix: str) -> _Node:
        for existing, child in self.rests:
            if existing == suffix:
                return child
        child = _Node()
        self.rests.append((suffix, child))
        self.rests.sort(key=lambda item: -len(item[0]))
        return child


def _insert(root: _Node, template: MethodTemplate) -> None:
    node = root
    names: list[str] = []
    for segment in template.path.split("/"):
        params = list(_PARAM_RE.finditer(segment))
        if not params:
            node = node.literals.setdefault(segment, _Node())
            continue
        if len(params) > 1:
            raise ValueError(f"{template.id}: more than one parameter in segment {segment!r}")
        param = params[0]
        prefix, suffix = segment[: param.start()], segment[param.end() :]
        names.append(param.group(2))
        if param.group(1):  # {+name}: reserved expansion, may span segments
            if prefix:
                raise ValueError(f"{template.id}: literal text before {{+{param.group(2)}}}")
            node = node.rest_child(suffix)
        else:
            node = node.param_child(_Segment(prefix, suffix))
    if node.terminal is not None:
        other = node.terminal[0]
        raise ValueError(
            f"{template.id} and {other.id}: same {template.http_method} template {template.path}"
        )
    node.terminal = (template, tuple(names))


def _walk(node: _Node, segments: list[str], index: int, captured: list[str]) -> _Node | None:
    if index == len(segments):
        return node if node.terminal is not None else None
    segment = segments[index]
    child = node.literals.get(segment)
    if child is not None:
        found = _walk(child, segments, index + 1, captured)
        if found is not None:
            return found
    for pattern, child in node.params:
        value = pattern.capture(segment)
        if value is None:
            continue
        captured.append(value)
        found = _walk(child, segments, index + 1, captured)
        if found is not None:
            return found
        captured.pop()
    for suffix, child in node.rests:
        for end in range(len(segments), index, -1):  # longest span first
            last = segments[end - 1]
            if not last.endswith(suffix) or any(not s for s in segments[index:end]):
                continue
            value = "/".join(segments[index:end])
            value = value[: len(value) - len(suffix)]
            if not value or value.endswith("/"):
                continue
            captured.append(value)
            found = _walk(child, segments, end, captured)
            if found is not None:
                return found
            captured.pop()
    return None


class MethodScopeTable:
    """The method templates of one or more APIs, compiled into one segment trie per HTTP method."""

    def __init__(self, templates: Iterable[MethodTemplate]) -> None:
        self._templates = tuple(templates)
        self._roots: dict[tuple[str | None, str], _Node] = {}
        for template in self._templates:
            for api in (None, template.api):
                _insert(self._roots.setdefault((api, template.http_method), _Node()), template)

    @classmethod
    def load(cls, path: str | Path | None = None) -> MethodScopeTable:
        """The table in `path` (default: the packaged google_methods.json); cached per path."""
        return _load_cached(str(path or GOOGLE_METHODS_PATH))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> MethodScopeTable:
        return cls(
            MethodTemplate(
                api=str(row["api"]),
                id=str(row["id"]),
                http_method=str(row["http_method"]).upper(),
                path=str(row["path"]),
                scopes=frozenset(str(scope) for scope in row.get("scopes", ())),
                upload=bool(row.get("upload", False)),
            )
            for row in rows
        )

    def __len__(self) -> int:
        return len(self._templates)

    def __iter__(self) -> Iterator[MethodTemplate]:
        return iter(self._templates)

    @property
    def apis(self) -> frozenset[str]:
        return frozenset(template.api for template in self._templates)

    def match(self, path: str, http_method: str, *, api: str | None = None) -> MatchedMethod | None:
        """The method a concrete request path (relative to the API host) calls, or None.

        A query string or fragment is ignored; `api` restricts the search to one API's methods
        (`ApiSurface.scope_table`). The path is matched as given: decoding and `..` checks are the
        proxy's business, and an encoded or empty segment simply does not match a literal.
        """
        root = self._roots.get((api, http_method.upper()))
        if root is None:
            return None
        clean = path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
        if not clean:
            return None
        captured: list[str] = []
        node = _walk(root, clean.split("/"), 0, captured)
        if node is None or node.terminal is None:
            return None
        template, names = node.terminal
        return MatchedMethod(
            api=template.api,
            id=template.id,
            http_method=template.http_method,
            template=template.path,
            params=dict(zip(names, captured, strict=True)),
            scopes=template.scopes,
            upload=template.upload,
        )


@lru_cache(maxsize=8)
def _load_cached(path: str) -> MethodScopeTable:
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    return MethodScopeTable.from_rows(document["methods"])
