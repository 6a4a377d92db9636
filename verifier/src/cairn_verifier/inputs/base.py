"""What every evidence reader shares: layers, candidates and the errors they raise.

An input is read in up to three layers, outermost first: an encoding (``raw``, ``hex``,
``base64``, ``pem``) or a JSON envelope (``json-byte-array``, ``json-hex-field``, …), then one
binary container (``snp-report``, ``azure-hcl``, ``tdx-quote``, …). Each layer a reader went
through is recorded as a :class:`Layer`; the chain is what the CLI prints as ``container``.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import MalformedInputError
from ..records import Record

COMPONENT = "input"
INPUTS_DOC = "docs/inputs.md"


class Platform(StrEnum):
    """The kind of evidence a command reads."""

    SNP = "snp"
    TDX = "tdx"

    @property
    def evidence(self) -> str:
        return "SEV-SNP report" if self is Platform.SNP else "TDX quote"

    @property
    def an_evidence(self) -> str:
        """The evidence with its article: "an SEV-SNP report", "a TDX quote"."""
        return "an SEV-SNP report" if self is Platform.SNP else "a TDX quote"


class Layer(Record):
    """One recognised format in the chain: its registry name and what was found in it."""

    name: str
    detail: str

    __slots__ = ("detail", "name")

    def __init__(self, name: str, detail: str = "") -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "detail", detail)

    def label(self) -> str:
        return f"{self.name} ({self.detail})" if self.detail else self.name


def describe(layers: tuple[Layer, ...]) -> str:
    """The chain as printed: ``hex > azure-hcl (SEV-SNP report at offset 0x20)``."""
    return " > ".join(layer.label() for layer in layers)


class Layered:
    """Evidence found in an input, with the :class:`Layer` chain it was found in."""

    layers: tuple[Layer, ...]

    @property
    def container(self) -> str:
        """The chain as printed (:func:`describe`)."""
        return describe(self.layers)

    @property
    def formats(self) -> tuple[str, ...]:
        """The names of the formats read, outermost first."""
        return tuple(layer.name for layer in self.layers)


class Candidate(Record):
    """One reading of the outer layers: the bytes a container detector looks at.

    ``primary`` marks the reading the documented rule picks; the others (a base64 reading of
    all-hex-digit text) only count when they are valid evidence, and then make it ambiguous.
    """

    data: bytes
    layers: tuple[Layer, ...]
    primary: bool

    __slots__ = ("data", "layers", "primary")

    def __init__(self, data: bytes, layers: tuple[Layer, ...], primary: bool = True) -> None:
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "primary", primary)

    @property
    def encoding_note(self) -> str:
        """`` (hex)`` etc. for messages; empty for raw binary."""
        names = [layer.name for layer in self.layers if layer.name != "raw"]
        return f" ({' > '.join(names)})" if names else ""


class DeferredError(MalformedInputError):
    """An outer layer found no evidence; a reader raises it only if nothing else explains why.

    (A JSON object without a known evidence member may still be the other platform's
    evidence, which says more than "no member found".)
    """


def input_error(message: str, what: str, hint: str | None = None) -> MalformedInputError:
    """A MalformedInputError about the input named ``what`` (component ``input``)."""
    return MalformedInputError(f"{what}: {message}", component=COMPONENT, hint=hint)
