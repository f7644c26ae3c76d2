"""Rendering metric families into exposition text in pieces, so that a whole exposition can be assembled by
joining bytes instead of formatting every sample again.

A target's families are rendered once per collection (`render_blocks`); `assemble` merges the blocks of every
target (same-name families under one HELP/TYPE header) into one exposition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import Metric

Encoder = Callable[[object], bytes]  # prometheus_client's generate_latest, or a partial of it
EOF = "# EOF\n"  # OpenMetrics' last line


@dataclass(frozen=True)
class Block:
    """One family rendered: its header lines (# HELP/# TYPE/# UNIT) and its sample lines."""

    name: str
    type: str
    header: str
    body: str


class _Families:
    """The smallest thing prometheus_client's encoders accept: an object with collect()."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


def render_blocks(families: Sequence[Metric], encoder: Encoder) -> list[Block]:
    """One Block per family, in order, rendered by `encoder` in a single call."""
    if not families:
        return []
    text = encoder(_Families(families)).decode("utf-8")
    if text.endswith(EOF):
        text = text[: -len(EOF)]
    chunks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# HELP ") or not chunks:  # every family starts with # HELP (documented or not)
            chunks.append([])
        chunks[-1].append(line)
    if len(chunks) != len(families):
        raise ValueError(f"rendered {len(chunks)} blocks for {len(families)} families")
    blocks = []
    for family, lines in zip(families, chunks, strict=True):
        cut = 0
        while cut < len(lines) and lines[cut].startswith("#"):
            cut += 1
        blocks.append(Block(family.name, family.type, "".join(lines[:cut]), "".join(lines[cut:])))
    return blocks


def assemble(groups: Iterable[Sequence[Block]], openmetrics: bool,
             on_clash: Callable[[Block, Block], None] | None = None) -> bytes:
    """One exposition from the blocks of many targets: same-name families merged under the first header.

    A family whose type differs from the first one of that name is dropped (`on_clash(first, dropped)`).
    """
    headers: dict[str, Block] = {}
    bodies: dict[str, list[str]] = {}
    for blocks in groups:
        for block in blocks:
            first = headers.get(block.name)
            if first is None:
                headers[block.name] = block
                bodies[block.name] = [block.body]
            elif first.type != block.type:
                if on_clash is not None:
                    on_clash(first, block)
            else:
                bodies[block.name].append(block.body)
    parts: list[str] = []
    for name, block in headers.items():
        parts.append(block.header)
        parts.extend(bodies[name])
    if openmetrics:
        parts.append(EOF)
    return "".join(parts).encode("utf-8")
