"""Text layout shared by every ``cairn show`` output: titled sections of aligned label/value rows.

::

    Title:
      label        value
      other label  value

Labels are lower case (the JSON key with spaces); hex is lowercase without ``0x``.
"""

from __future__ import annotations

Row = tuple[str, str]
Section = tuple[str, list[Row]]


def render_sections(sections: list[Section]) -> str:
    """Every section as ``Title:`` and its rows, values aligned across all sections."""
    width = max((len(label) for _, rows in sections for label, _ in rows), default=0)
    lines: list[str] = []
    for title, rows in sections:
        if lines:
            lines.append("")
        lines.append(f"{title}:")
        lines.extend(f"  {label.ljust(width)}  {value}".rstrip() for label, value in rows)
    return "\n".join(lines) + "\n"
