"""Reference values written as a Cairn policy file: ``[tdx]`` for a TD's MRTD and RTMRs,
``[evidence.pcrs.<bank>]`` for vTPM PCRs. The file is a policy like any other
(``cairn verify tdx|evidence --policy FILE``), with comments that say what each value was
computed from and what is *not* pinned; it is checked by the policy loader before it is
written."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import MalformedInputError
from ..policy import validation_message
from ..policy_document import CairnPolicy


@dataclass(frozen=True)
class PolicyFile:
    """A policy document: a table name, its keys (hex values or lists of them), comments."""

    table: str
    values: Mapping[str, str | Sequence[str]]
    comments: Sequence[str] = ()
    notes: Mapping[str, str] = field(default_factory=dict)
    """A comment line to write above a key."""

    def render(self) -> str:
        lines = [f"# {line}" if line else "#" for line in self.comments]
        lines += ["", f"[{self.table}]"]
        for key, value in self.values.items():
            if key in self.notes:
                lines.append(f"# {self.notes[key]}")
            name = key if key.isidentifier() else json.dumps(key)
            lines.append(f"{name} = {json.dumps(value if isinstance(value, str) else list(value))}")
        return "\n".join(lines) + "\n"

    def validated(self) -> str:
        """The rendered file, after the policy model accepted it."""
        text = self.render()
        document: dict[str, Any] = tomllib.loads(text)
        try:
            CairnPolicy.model_validate(document)
        except ValidationError as exc:
            raise MalformedInputError(
                f"the reference values do not form a valid policy: {validation_message(exc)}",
                component="reference values",
            ) from exc
        return text


def comment_text(text: str) -> str:
    """``text`` safe for one comment line (JSON-quoted: no newlines, visible escapes)."""
    return json.dumps(text)
