"""``cairn show eventlog``: decode a measurement event log, replay it, describe the boot.

Reads a TPM's TCG event log (binary or base64), a TDX CCEL or dstack's JSON event log; prints
what was measured (firmware, Secure Boot, boot loader, kernel, initrd, command line, UKI
sections), every event, and the register values the log replays to. Nothing is verified: the
values mean something only next to a verified quote (``cairn verify evidence`` does that for
a bundle's ``tpm.event_log``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import Output, add_json_option, read_input_file

FORMATS = ("auto", "tcg", "ccel", "dstack")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Decode a measurement event log, replay it into PCR (or RTMR) values and "
        "describe the measured boot, WITHOUT verifying it: the values prove something only when "
        "a verified quote covers them (`cairn verify evidence` checks a bundle's event log)."
    )
    parser.add_argument(
        "log",
        type=Path,
        help="event log: binary_bios_measurements (raw or base64), a CCEL, or dstack JSON "
        "('-' = stdin)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="how to read the log (default: detect; a SHA-384 log ending in fill is a CCEL)",
    )
    add_json_option(parser)
    parser.set_defaults(func=show_eventlog_command)


def show_eventlog_command(args: argparse.Namespace) -> int:
    from ..eventlog import describe, read_event_log, replay  # start-up time
    from .show_document import ShowDocument  # start-up time

    data = read_input_file(args.log, "event log")
    log, form = read_event_log(data, args.format)
    values = replay(log)
    description = describe(log)
    summary = description.summary()
    replayed = {
        f"{bank}:{index}": value.hex() for (bank, index), value in sorted(values.values.items())
    }
    unreplayable = [f"{bank}:{index}" for bank, index in values.unreplayable]
    fields: dict[str, Any] = {
        "format": log.format,
        "registers": log.register_kind,
        "banks": [bank.name for bank in log.banks],
        "event_count": len(log.events),
        "replayed": replayed,
        "unreplayable": unreplayable,
        **description.to_json(),
    }
    name = "RTMR" if log.register_kind == "rtmr" else "PCR"
    boot_rows = [
        (
            "secure boot",
            {True: "enabled", False: "disabled", None: "not measured"}[summary["secure_boot"]],
        ),
        *[("boot application", item) for item in summary["boot_applications"]],
        *[("kernel", item) for item in summary["kernels"]],
        *[("initrd", item) for item in summary["initrds"]],
        *[("command line", item) for item in summary["command_lines"]],
        *[("UKI section", item) for item in summary["uki_sections"]],
    ]
    event_rows = [
        (f"[{item.event}] {item.register}", f"{item.event_type}: {item.kind}: {item.detail}")
        for item in description.items
    ]
    value_rows = [(f"{name} {key}", value) for key, value in replayed.items()]
    value_rows += [
        (f"{name} {key}", "not replayable (an event lacks this digest)") for key in unreplayable
    ]
    shown = ShowDocument(
        kind="measurement event log",
        source=str(args.log),
        container=form,
        command="evidence",
        fields=fields,
        sections=[
            ("Measured boot (as the log says)", boot_rows),
            (f"Replayed {name} values", value_rows or [("values", "(no events extend anything)")]),
            ("Events", event_rows),
        ],
    )
    return Output(args.json).document(shown.to_json(), shown.render_text())
