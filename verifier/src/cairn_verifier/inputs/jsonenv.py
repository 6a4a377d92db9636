"""JSON envelopes: evidence handed out inside JSON, and JSON documents that are not evidence.

Accepted (see :mod:`.formats`): a top-level array of byte values (``json-byte-array``) and an
object with exactly one *known* evidence member — by platform, the member names the tools that
hand out evidence use — holding a byte array, hex or base64 text (``json-byte-array-field``,
``json-hex-field``, ``json-base64-field``). Two known members, or none, are refused with the
candidates named; nothing is guessed from other member names. Documents Cairn recognises but does
not read as evidence (its own bundles, TDX collateral, NVIDIA GPU evidence) are named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from ..documents import unique_members
from ..errors import MalformedInputError
from .base import Candidate, DeferredError, Layer, Platform, input_error
from .formats import known
from .text import BlobFormat, decode_text_candidates, is_text

#: Object members that hold the evidence, per platform (as the tools that hand it out name them).
EVIDENCE_MEMBERS: Mapping[Platform, tuple[str, ...]] = {
    # trustee az-snp-vtpm (report, hcl_report); dstack-util quote-report (attestation).
    Platform.SNP: ("report", "hcl_report", "snp_report", "attestation_report", "attestation"),
    # dstack GetQuote (quote), trustee az-tdx-vtpm (td_quote), Phala / NEAR AI (intel_quote),
    # NEAR mpc TeeParticipantInfo (tee_quote), dstack-util quote-report (attestation).
    Platform.TDX: ("quote", "td_quote", "tdx_quote", "intel_quote", "tee_quote", "attestation"),
}
MAX_NESTED_DEPTH = 4
MAX_LISTED = 6


def load_json(text: bytes, what: str) -> Any:
    """Parse JSON text strictly: UTF-8, no duplicate members, bounded nesting and numbers."""
    try:
        return json.loads(text.decode("utf-8"), object_pairs_hook=unique_members)
    except UnicodeDecodeError as exc:
        raise input_error(f"the JSON text is not UTF-8 ({exc.reason})", what) from None
    except RecursionError:
        raise input_error("the JSON text is nested too deeply", what) from None
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string")
        hint = (
            "the document ends before it is complete: it was cut off (or a closing quote is "
            "missing); save or copy it whole"
            if cut
            else f"fix the JSON at line {exc.lineno}, column {exc.colno}, or export it again "
            "from the tool that wrote it"
        )
        raise input_error(
            f"the text starts like JSON but is not valid JSON ({exc.msg}: line {exc.lineno}, "
            f"column {exc.colno})",
            what,
            hint=hint,
        ) from None
    except ValueError as exc:  # duplicate members, oversized integers
        raise input_error(f"the JSON document is not accepted: {exc}", what) from None


def _is_byte_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(type(item) is int and 0 <= item <= 255 for item in value)
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "an array that is not all integers 0-255" if value else "an empty array"
    if isinstance(value, str):
        return "text that is neither hex nor base64"
    if isinstance(value, bool) or value is None:
        return f"JSON {json.dumps(value)}"
    return "a number"


# --------------------------------------------------------------------------- not evidence


def _foreign_document(doc: Any, platform: Platform, what: str) -> MalformedInputError | None:
    """A named error when ``doc`` is a JSON document Cairn knows but does not read as evidence."""
    usage = "`cairn verify tdx QUOTE --collateral FILE`"
    if isinstance(doc, dict):
        fmt = doc.get("format")
        if fmt == "cairn-evidence":
            tee = doc.get("tee", {}).get("kind") if isinstance(doc.get("tee"), dict) else None
            return input_error(
                f"this is a Cairn evidence bundle (cairn-evidence, TEE {tee or 'unknown'}), "
                f"not a bare {platform.evidence}",
                what,
                hint="verify it with `cairn verify evidence FILE` (it checks the TEE report, "
                "the TPM quote and the claims together)",
            )
        if fmt == "cairn-collateral-bundle":
            return input_error(
                "this is a Cairn collateral bundle, not evidence",
                what,
                hint=f"pass it with --collateral: `cairn verify {platform.value} EVIDENCE "
                "--collateral FILE`",
            )
        if {"tcb_info", "qe_identity"} <= doc.keys():
            return input_error(
                "this is Intel TDX collateral (dcap-qvl collateral JSON), not evidence",
                what,
                hint=f"pass it with --collateral: {usage}",
            )
        if "signature" in doc and ("tcbInfo" in doc or "enclaveIdentity" in doc):
            member = "tcbInfo" if "tcbInfo" in doc else "enclaveIdentity"
            return input_error(
                f"this is an Intel PCS response ({member}), i.e. TDX collateral, not evidence",
                what,
                hint="put it in a directory of PCS responses and pass that directory with "
                f"--collateral: {usage} (docs/tdx.md, Inputs)",
            )
        if "claims" in doc and "detached_eat" in doc:
            return _gpu_error("an NVIDIA GPU attestation result (claims and detached EAT)", what)
        if isinstance(doc.get("gpus"), list) and all(isinstance(g, dict) for g in doc["gpus"]):
            switches = doc.get("nvswitches")
            extra = f" and {len(switches)} NVSwitches" if isinstance(switches, list) else ""
            return _gpu_error(f"NVIDIA GPU evidence ({len(doc['gpus'])} GPUs{extra})", what)
    if (
        isinstance(doc, list)
        and doc
        and all(
            isinstance(item, dict) and {"evidence", "certificate"} <= item.keys() for item in doc
        )
    ):
        arches = sorted({str(item.get("arch", "?")) for item in doc})
        return _gpu_error(
            f"NVIDIA GPU evidence list ({len(doc)} entr{'y' if len(doc) == 1 else 'ies'}, "
            f"arch {', '.join(arches)})",
            what,
        )
    return None


def _gpu_error(description: str, what: str) -> MalformedInputError:
    return input_error(
        f"{description}: GPU verification is not supported by this version",
        what,
        hint="verify the CPU TEE evidence (SEV-SNP report or TDX quote) with `cairn verify snp` "
        "or `cairn verify tdx`; Cairn does not check NVIDIA GPU evidence yet",
    )


# --------------------------------------------------------------------------- evidence members


def _member_readings(name: str, value: Any, what: str) -> list[Candidate]:
    """The byte readings of one known member (a byte array, hex or base64 text)."""
    if _is_byte_list(value):
        return [
            Candidate(bytes(value), (Layer(known("json-byte-array-field"), f"member {name!r}"),))
        ]
    if isinstance(value, str) and value and value.isascii() and is_text(value.encode("ascii")):
        try:
            readings = decode_text_candidates(value.encode("ascii"), f"{what}: member {name!r}")
        except MalformedInputError:
            return []
        out = []
        for index, reading in enumerate(readings):
            if reading.fmt is BlobFormat.PEM or not reading.data:
                continue
            if reading.fmt is BlobFormat.HEX:
                layer = Layer(known("json-hex-field"), f"member {name!r}")
            else:
                url = ", URL-safe alphabet" if reading.fmt is BlobFormat.BASE64URL else ""
                layer = Layer(known("json-base64-field"), f"member {name!r}{url}")
            out.append(Candidate(reading.data, (layer,), primary=index == 0))
        return out
    return []


def _nested_paths(
    value: Any, names: tuple[str, ...], path: str, depth: int
) -> Iterator[tuple[str, Any]]:
    """``(jq path, value)`` of known members below the top level (bounded depth)."""
    if depth > MAX_NESTED_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if key.isidentifier() else f'{path}["{key}"]'
            if key in names and depth > 0 and (_is_byte_list(item) or isinstance(item, str)):
                yield child, item
            yield from _nested_paths(item, names, child, depth + 1)
    elif isinstance(value, list) and not _is_byte_list(value):
        for index, item in enumerate(value[:64]):
            yield from _nested_paths(item, names, f"{path}[{index}]", depth + 1)


def _none_found(doc: dict[str, Any], platform: Platform, what: str) -> DeferredError:
    names = EVIDENCE_MEMBERS[platform]
    members = ", ".join(repr(k) for k in list(doc)[:MAX_LISTED]) or "none"
    if len(doc) > MAX_LISTED:
        members += f" and {len(doc) - MAX_LISTED} more"
    unusable = [f"{k!r} is {_kind(doc[k])}" for k in doc if k in names]
    detail = f"; {'; '.join(unusable)}" if unusable else ""
    looked = ", ".join(repr(n) for n in names)
    nested = list(_nested_paths(doc, names, "", 0))[:MAX_LISTED]
    if nested:
        path, value = nested[0]
        paths = ", ".join(p for p, _ in nested)
        tool = "jq -c" if isinstance(value, list) else "jq -r"
        hint = (
            f"the evidence is nested ({paths}); take one out and give Cairn that, e.g. "
            f"`{tool} '{path}' FILE > {platform.value}-evidence.txt`"
        )
    else:
        hint = f"Cairn reads JSON evidence from a top-level member named {looked} (docs/inputs.md)"
    return DeferredError(
        f"{what}: JSON object (members {members}) has no member holding {platform.an_evidence}"
        f"{detail}",
        component="input",
        hint=hint,
    )


def json_candidates(text: bytes, platform: Platform, what: str) -> list[Candidate]:
    """The evidence readings of a JSON document, or the error that names what it is."""
    doc = load_json(text, what)
    foreign = _foreign_document(doc, platform, what)
    if foreign is not None:
        raise foreign
    if isinstance(doc, list):
        if _is_byte_list(doc):
            return [Candidate(bytes(doc), (Layer(known("json-byte-array"), f"{len(doc)} bytes"),))]
        raise input_error(
            f"a JSON array that is not a byte array ({_kind(doc)})",
            what,
            hint="Cairn reads a JSON array only when every element is an integer 0-255",
        )
    if not isinstance(doc, dict):
        raise input_error(f"a JSON document holding {_kind(doc)}, not evidence", what)
    names = EVIDENCE_MEMBERS[platform]
    readings = {name: _member_readings(name, doc[name], what) for name in names if name in doc}
    usable = {name: found for name, found in readings.items() if found}
    if not usable:
        raise _none_found(doc, platform, what)
    if len(usable) > 1:
        raise input_error(
            f"JSON object has {len(usable)} members that could hold the {platform.evidence} "
            f"({', '.join(repr(n) for n in usable)}); Cairn does not guess which one",
            what,
            hint="take the one you mean out of the document, e.g. "
            f"`jq -r '.{next(iter(usable))}' FILE`, and give Cairn that",
        )
    name, found = next(iter(usable.items()))
    others = [k for k in doc if k != name]
    rest = f"; not read: {', '.join(others[:MAX_LISTED])}" if others else ""
    if len(others) > MAX_LISTED:
        rest += f" and {len(others) - MAX_LISTED} more"
    return [
        Candidate(c.data, (Layer(c.layers[0].name, c.layers[0].detail + rest),), c.primary)
        for c in found
    ]
