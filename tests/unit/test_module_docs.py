"""Every module's DOCUMENTATION, EXAMPLES and RETURN parse as YAML, so ansible-doc can show them."""

from __future__ import annotations

import ast

import pytest
import yaml

from conftest import ROOT

MODULES = sorted((ROOT / "plugins" / "modules").glob("*.py"))
FRAGMENTS = {p.stem: p for p in (ROOT / "plugins" / "doc_fragments").glob("*.py")}


def fragment_attributes(path) -> set[str]:
    """The documentation attributes (DOCUMENTATION, TOKEN...) of a doc fragment's ModuleDocFragment."""
    tree = ast.parse(path.read_text())
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "ModuleDocFragment")
    return {node.targets[0].id for node in cls.body if isinstance(node, ast.Assign)}


def blocks(path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_documentation_parses_and_names_its_fragments(path):
    docs = blocks(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, path.name
    parsed = {name: yaml.safe_load(text) for name, text in docs.items()}
    assert parsed["DOCUMENTATION"]["module"] == path.stem
    assert parsed["DOCUMENTATION"]["short_description"]
    for fragment in parsed["DOCUMENTATION"].get("extends_documentation_fragment") or ():
        parts = fragment.split(".")
        namespace, name = ".".join(parts[:2]), parts[2] if len(parts) > 2 else ""
        attribute = parts[3].upper() if len(parts) == 4 else "DOCUMENTATION"
        assert namespace == "jinbao.dc", (f"{path.name}: fragment {fragment} is not named by its FQCN "
                                          "(jinbao.dc.<name>[.<attribute>])")
        assert name in FRAGMENTS, f"{path.name}: no plugins/doc_fragments/{name}.py"
        assert attribute in fragment_attributes(FRAGMENTS[name]), \
            f"{path.name}: plugins/doc_fragments/{name}.py has no {attribute}"
    assert isinstance(parsed["EXAMPLES"], list) and parsed["EXAMPLES"]
