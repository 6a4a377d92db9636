"""``cairn_verifier.api`` is the one module the agent imports from the verifier, it exports
what the agent uses and nothing else, and ``import cairn_verifier`` alone stays cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cairn_verifier.api as api

REPO = Path(__file__).resolve().parents[2]
AGENT_SIDE = [
    *sorted((REPO / "agent" / "src" / "cairn_agent").rglob("*.py")),
    REPO / "tests" / "fakes" / "agent_server.py",  # the agent's test doubles
    REPO / "tests" / "fakes" / "swtpm.py",
]


def _verifier_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import of a ``cairn_verifier`` module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cairn_verifier"):
            found.append((node.module or "", [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("cairn_verifier")]
    return found


def test_the_agent_imports_only_the_public_api() -> None:
    deep = [
        f"{path.relative_to(REPO)}: {module}"
        for path in AGENT_SIDE
        for module, _ in _verifier_imports(path)
        if module != "cairn_verifier.api"
    ]
    assert deep == [], "import these from cairn_verifier.api (add them to its __all__)"


def test_the_api_exports_what_the_agent_uses_and_nothing_else() -> None:
    used = {name for path in AGENT_SIDE for _, names in _verifier_imports(path) for name in names}
    assert set(api.__all__) == used
    assert len(api.__all__) == len(set(api.__all__))
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, cairn_verifier; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith("
        "('cairn_verifier.', 'pydantic', 'cryptography', 'httpx')))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
