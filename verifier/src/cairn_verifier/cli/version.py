"""``cairn --version [--verbose] [--json]``: the release, and the format versions it reads.

The release version is the installed distribution's (``verifier/pyproject.toml``). With
``--verbose`` (or ``--json``) it also names every versioned document and specification this
build reads and writes, taken from the constants the parsers check, so the output cannot drift
from what the code accepts.
"""

from __future__ import annotations

from .. import __version__

DISTRIBUTION = "cairn-verifier"
FLAGS = frozenset({"--version", "--verbose", "--json"})
RUNTIME_DEPENDENCIES = ("cryptography", "httpx", "pydantic")
HELP = (
    "print the version and exit; `cairn --version --verbose` also prints the versions of the "
    "evidence bundle, REPORT_DATA, GPU evidence binding, collateral bundle and other formats "
    "this build reads (`cairn --version --json`: as JSON)"
)


class FormatVersion:
    """One versioned document or specification: what it is, its tag and the version read.

    A plain class, not a dataclass: ``cairn --version`` imports this module, and importing
    :mod:`dataclasses` (with :mod:`inspect`) would double its start-up (docs/performance.md).
    """

    __slots__ = ("name", "spec", "tag", "version")

    def __init__(self, name: str, tag: str, version: int, spec: str) -> None:
        self.name = name
        self.tag = tag
        self.version = version
        self.spec = spec

    def as_dict(self) -> dict[str, str | int]:
        return {"name": self.name, "tag": self.tag, "version": self.version, "spec": self.spec}


def format_versions() -> list[FormatVersion]:
    """The versions the parsers accept, from the constants they check."""
    from ..azure import binding as azure_binding
    from ..binding import gpu_digest, proof_document, report_data
    from ..collateral import bundle
    from ..evidence import models
    from ..snp import reference_values

    return [
        FormatVersion(
            "evidence bundle",
            models.EVIDENCE_FORMAT,
            models.EVIDENCE_VERSION,
            "docs/spec/evidence-bundle.md",
        ),
        FormatVersion(
            "REPORT_DATA",
            report_data.DOMAIN_V2.rstrip(b"\0").decode(),
            report_data.REPORT_DATA_VERSION,
            f"docs/spec/report-data-v{report_data.REPORT_DATA_VERSION}.md",
        ),
        FormatVersion(
            "REPORT_DATA (older)",
            report_data.DOMAIN.rstrip(b"\0").decode(),
            1,
            "docs/spec/report-data-v1.md",
        ),
        FormatVersion(
            "Azure vTPM binding",
            azure_binding.TAG,
            azure_binding.VERSION,
            "docs/spec/azure-vtpm-v1.md",
        ),
        FormatVersion(
            "GPU evidence binding",
            gpu_digest.DIGEST_DOMAIN.rstrip(b"\0").decode(),
            gpu_digest.VERSION,
            f"docs/spec/gpu-evidence-v{gpu_digest.VERSION}.md",
        ),
        FormatVersion(
            "collateral bundle",
            bundle.BUNDLE_FORMAT,
            bundle.BUNDLE_VERSION,
            "docs/snp.md (Offline verification)",
        ),
        FormatVersion(
            "service proof document",
            proof_document.FORMAT,
            proof_document.VERSION,
            "docs/spec/service-tree.md",
        ),
        FormatVersion(
            "reference values",
            reference_values.FORMAT,
            reference_values.VERSION,
            "docs/snp.md (Reference values)",
        ),
    ]


def version_request(argv: list[str]) -> tuple[bool, bool] | None:
    """``(verbose, as_json)`` when the command line asks only for the version, else None."""
    if "--version" not in argv or not set(argv) <= FLAGS:
        return None
    return "--verbose" in argv, "--json" in argv


def _installed(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def version_document() -> dict[str, object]:
    """Everything ``--version --verbose`` says, as one JSON-ready document."""
    import platform

    return {
        "name": "cairn",
        "distribution": DISTRIBUTION,
        "version": __version__,
        "formats": [entry.as_dict() for entry in format_versions()],
        "python": platform.python_version(),
        "dependencies": {name: _installed(name) for name in RUNTIME_DEPENDENCIES},
    }


def render_version(verbose: bool, as_json: bool) -> str:
    """The text (or JSON) ``cairn --version`` prints."""
    if as_json:
        import json

        return json.dumps(version_document(), indent=2)
    if not verbose:
        return f"cairn {__version__}"
    import platform

    formats = format_versions()
    name_width = max(len(entry.name) for entry in formats)
    tag_width = max(len(entry.tag) for entry in formats)
    lines = [f"cairn {__version__} ({DISTRIBUTION})", "formats (tag, version read, specification):"]
    lines += [
        f"  {entry.name:<{name_width}}  {entry.tag:<{tag_width}}  v{entry.version}  {entry.spec}"
        for entry in formats
    ]
    deps = ", ".join(f"{name} {_installed(name) or 'missing'}" for name in RUNTIME_DEPENDENCIES)
    lines.append(f"runtime: Python {platform.python_version()}; {deps}")
    return "\n".join(lines)
