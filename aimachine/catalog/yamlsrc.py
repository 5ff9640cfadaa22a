"""YAML loading that remembers the line of every value, so errors can point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple  # a field path: ("vms", 0, "memory_mb")


@dataclass
class Source:
    """Plain data from a YAML document plus the 1-based line of each path."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, problem: str):
        super().__init__(problem)
        self.line = line
        self.problem = problem


def format_path(path: Path) -> str:
    """("vms", 0, "gpu", "mapping") -> "vms[0].gpu.mapping"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def load(text: str) -> Source:
    """Parse `text`; raise YamlSyntaxError with the line on malformed YAML."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, f"{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - yaml raises Marked errors for text input
        raise YamlSyntaxError(1, str(exc)) from None
    src = Source(data=None)
    if node is None:
        return src
    src.lines[()] = node.start_mark.line + 1
    src.data = _convert(node, (), src)
    return src


def _convert(node: yaml.Node, path: Path, src: Source) -> Any:
    src.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            child = (*path, key)
            if key in out:
                src.duplicates.append((child, key_node.start_mark.line + 1))
            out[key] = _convert(value_node, child, src)
            # a key's own line is the better pointer when its value spans lines
            if not isinstance(value_node, yaml.ScalarNode):
                src.lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), src) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return repr(node)  # a complex key: kept as text so it is reported as unknown
    return _SCALARS.construct_object(node)


_SCALARS = yaml.SafeLoader("")
