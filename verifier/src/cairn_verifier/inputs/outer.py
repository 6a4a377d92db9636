"""The outer layer of an input: raw binary, an encoding (hex, base64, PEM) or a JSON envelope.

Rule, in order: a leading UTF-8 BOM is ignored; if the first non-whitespace byte is ``{`` or
``[`` the input is JSON (:mod:`.jsonenv`; no evidence container starts with either byte); else if
some byte is not printable ASCII or whitespace it is raw binary; else it is text, decoded by
:func:`cairn_verifier.encoding.decode_text_candidates` (PEM, hex, base64). A PEM block holding a
certificate or CRL is named and refused.
"""

from __future__ import annotations

from .base import Candidate, Layer, Platform, input_error
from .foreign import pem_labels_error
from .formats import known
from .jsonenv import json_candidates
from .text import BOM, BlobFormat, decode_text_candidates, is_text, pem_labels


def outer_candidates(data: bytes, platform: Platform, what: str) -> list[Candidate]:
    """The readings of ``data`` a container detector should look at, the rule's reading first."""
    data = bytes(data)
    if not data:
        raise input_error("the input is empty", what)
    body = data.removeprefix(BOM)
    if body.lstrip()[:1] in (b"{", b"["):
        return json_candidates(body, platform, what)
    if not is_text(body):
        return [Candidate(data, (Layer(known("raw")),))]
    refused = pem_labels_error(pem_labels(body), platform, what)
    if refused is not None:
        raise refused
    out: list[Candidate] = []
    for index, reading in enumerate(decode_text_candidates(body, what)):
        if reading.fmt is BlobFormat.PEM:
            layer = Layer(known("pem"), f"{reading.pem_label} block")
        else:
            layer = Layer(known(reading.fmt.format_name))
        if not reading.data:
            if index == 0:
                raise input_error(f"the {reading.fmt.value} text decodes to nothing", what)
            continue
        out.append(Candidate(reading.data, (layer,), primary=index == 0))
    return out
