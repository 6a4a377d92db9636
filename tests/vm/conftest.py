"""The VM tooling (scripts/vm/cairnvm) is a script package, not an installed one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "vm"))
