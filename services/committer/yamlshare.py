"""Refuse an edit that would change more than the value it names: YAML anchors, aliases, merges.

ruamel's composer hands back the very node of the anchor (`&curl`) wherever an alias
(`*curl`) uses it, and a merge key (`<<: *base`) supplies the base mapping's entries. A
value reached that way is written once, at the anchor: splicing it would change every
other user. So an edit walks its path from the document root and is refused, with the
other users named, when a step is an alias or a merge; a step through the place where a
shared node is written is allowed only when the caller says the path was named by the
user (a Helm key path pointed at the anchor's own place asks for the shared value).
"""

from __future__ import annotations

from collections.abc import Sequence

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from services.committer.yamlsplice import ManifestError, editable, get, merge_sources

Path = tuple[str | int, ...]


def dotted(path: Sequence[str | int]) -> str:
    """`spec.containers[0].image`: a path as a reader finds it in the file."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "the document"


def locate(
    document: Node,
    path: Sequence[str | int],
    where: str,
    *,
    own_place_ok: bool = False,
    keys_hint: str | None = None,
) -> ScalarNode:
    """The scalar at `path`, when splicing it changes that value and nothing else."""
    node = reach(document, path, where, own_place_ok=own_place_ok, keys_hint=keys_hint)
    return editable(node, where)


def reach(
    document: Node,
    path: Sequence[str | int],
    where: str,
    *,
    own_place_ok: bool = False,
    keys_hint: str | None = None,
) -> Node | None:
    """The node at `path` (None when a step is missing), refused when it is shared.

    own_place_ok: the user named this path, so through an anchor's own place it asks for
    the shared value. keys_hint: the setting that names the path (`the service's helm
    keys`), for a refusal to suggest pointing it at the anchor instead."""
    places = _places(document)
    node: Node | None = document
    for depth, step in enumerate(path):
        here = tuple(path[: depth + 1])
        parent = node
        node = _child(parent, step, where)
        if node is None:
            merged = _merged_from(parent, step, where) if isinstance(step, str) else None
            if merged is not None:
                raise ManifestError(
                    _merge_refusal(where, tuple(path), here, merged, places, keys_hint)
                )
            return None
        seen = places.get(id(node), [])
        if len(seen) > 1 and not (own_place_ok and seen[0] == here):
            raise ManifestError(_shared_refusal(where, tuple(path), here, node, seen, keys_hint))
    return node


def _child(node: Node | None, step: str | int, where: str) -> Node | None:
    """The value written in `node` itself under `step` (never one a merge key supplies)."""
    if isinstance(step, int):
        if isinstance(node, SequenceNode) and 0 <= step < len(node.value):
            child: Node = node.value[step]
            return child
        return None
    return get(node, step, where, follow_merges=False)


def _merged_from(node: Node | None, key: str, where: str) -> Node | None:
    """The mapping a merge key of `node` takes `key` from, if one does."""
    for source in merge_sources(node):
        if get(source, key, where) is not None:
            return source
    return None


def _places(document: Node) -> dict[int, list[Path]]:
    """Every path at which each node appears: first where it is written, then its aliases.

    Composition order is document order, so the first path is the anchor's own place. An
    alias's children are not listed again: they are reached only through the alias."""
    places: dict[int, list[Path]] = {}
    _visit(document, (), places)
    return places


def _visit(node: Node, path: Path, places: dict[int, list[Path]]) -> None:
    known = id(node) in places
    places.setdefault(id(node), []).append(path)
    if known:
        return
    if isinstance(node, MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, ScalarNode) else "?"
            _visit(value, (*path, name), places)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _visit(item, (*path, index), places)


def _shared_refusal(
    where: str, path: Path, here: Path, node: Node, seen: list[Path], keys_hint: str | None
) -> str:
    own, others = seen[0], [dotted(p) for p in seen[1:] if p != here]
    rest = tuple(path[len(here) :])
    if here != own:
        also = f", also used by {_listed(others)}" if others else ""
        why = (
            f"{dotted(here)} is an alias (*{node.anchor}) of {dotted(own)} (&{node.anchor}, "
            f"line {node.start_mark.line + 1}){also}. Setting {dotted(path)} would change "
            f"{dotted((*own, *rest))} and so every alias of &{node.anchor}"
        )
        fix = f"give {dotted(here)} its own value (replace *{node.anchor} by a copy)"
        if keys_hint:
            fix += f", or point {keys_hint} at {dotted((*own, *rest))} to change the shared value"
    else:
        why = (
            f"{dotted(here)} is anchored (&{node.anchor}) and also used by {_listed(others)}. "
            f"Setting {dotted(path)} would change those too"
        )
        fix = f"give each its own value (replace *{node.anchor} by a copy)"
        if keys_hint:
            fix += f", or name {dotted(path)} in {keys_hint} to change the shared value"
    return f"{where}: {why}. To deploy, {fix}"


def _merge_refusal(
    where: str,
    path: Path,
    here: Path,
    source: Node,
    places: dict[int, list[Path]],
    keys_hint: str | None,
) -> str:
    seen = places.get(id(source), [])
    key, rest = here[-1], tuple(path[len(here) :])
    origin = dotted((*seen[0], key)) if seen else f"the merged {key}"
    merged = f"*{source.anchor}" if source.anchor else "an inline mapping"
    why = (
        f"{dotted(here)} comes from a merge key (<<: {merged}): it is {origin}. Setting "
        f"{dotted(path)} would change {origin} for everything that merges it"
    )
    fix = f"write {dotted(here[:-1])}'s own {key}: beside the merge key (a copy of {origin})"
    if keys_hint and source.anchor and seen:
        retargeted = dotted((*seen[0], key, *rest))
        fix += f", or point {keys_hint} at {retargeted} to change the shared value"
    return f"{where}: {why}. To deploy, {fix}"


def _listed(paths: list[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
