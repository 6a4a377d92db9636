"""Azure confidential VMs: the HCL report from the vTPM, and on TDX the TD quote from Azure.

On Azure the guest cannot choose REPORT_DATA. The paravisor writes an *HCL report* into the
vTPM's NV index 0x01400001: an SEV-SNP report (or a TDX TD report) whose REPORT_DATA commits to
its runtime data, which names the vTPM's attestation key (persistent handle 0x81000003). This
provider reads that NV index and, on TDX, turns the TD report into a TD quote at Azure's quote
endpoint (``POST http://169.254.169.254/acc/tdquote``, ``{"report": base64url}`` →
``{"quote": base64url}``); on SEV-SNP it fetches the VCEK chain from Azure's THIM cache
(``GET /metadata/THIM/amd/certification``), as Azure advises, when asked to.

The REPORT_DATA the agent computed is not used: the claims travel in the vTPM quote, whose
extraData is their digest (the agent's :class:`~cairn_agent.evidence.EvidenceSource` does that
for kinds that say so; docs/spec/azure-vtpm-v1.md). The bundle's ``tee.report`` is the HCL
report (its ``report_size`` bytes, NV padding dropped), followed on TDX by the TD quote.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Final

from cairn_verifier.api import CairnError, HclReportType, parse_certificate, parse_hcl_report

from ..tpm import AgentTpm, TpmError
from .base import ProviderError, TeeEvidence, TeeKind
from .sev_guest import check_report_data

IMDS_URL: Final = "http://169.254.169.254"
QUOTE_PATH: Final = "/acc/tdquote"
THIM_PATH: Final = "/metadata/THIM/amd/certification"
HCL_NV_INDEX: Final = 0x01400001
AK_HANDLE: Final = 0x81000003
MAX_RESPONSE_BYTES: Final = 1024 * 1024
TIMEOUT_SECONDS: Final = 20.0

Fetch = Callable[[str, bytes | None, dict[str, str]], bytes]
"""(URL, body or None for GET, headers) → response body; ProviderError on failure."""

_KINDS: Final[dict[tuple[HclReportType, bool], TeeKind]] = {
    (HclReportType.SEV_SNP, False): "azure-sev-snp-vtpm",
    (HclReportType.TDX, False): "azure-tdx-vtpm",
    (HclReportType.SEV_SNP, True): "azure-sev-snp-vtpm-simulated",
    (HclReportType.TDX, True): "azure-tdx-vtpm-simulated",
}


def http_fetch(url: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    """One request to Azure's instance metadata service: no proxy (IMDS must be reached
    directly), a timeout, at most :data:`MAX_RESPONSE_BYTES` read."""
    request = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if body else "GET"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise ProviderError(
            f"{url} answered HTTP {error.code} {error.reason}",
            hint="is this an Azure confidential VM of the right kind (TDX for the quote endpoint)?",
            retryable=error.code >= 500,
        ) from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ProviderError(
            f"cannot reach {url}: {reason}",
            hint="Azure's instance metadata service answers only inside an Azure VM",
            retryable=True,
        ) from error
    if len(data) > MAX_RESPONSE_BYTES:
        raise ProviderError(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
    return data


def _json_member(data: bytes, member: str, url: str) -> Any:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise ProviderError(f"{url} did not answer JSON") from None
    if not isinstance(document, dict) or member not in document:
        raise ProviderError(f"{url} answered JSON without a {member!r} member")
    return document[member]


def _b64url_decode(text: object, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise ProviderError(f"{what} is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProviderError(f"{what} is not valid base64url") from None


class AzureVtpmProvider:
    """Evidence of an Azure confidential VM (SEV-SNP or TDX, read from the HCL report).

    ``simulated``: the HCL report was written by a simulator (``simulated-azure``), so the
    evidence is labelled simulated and verifies only under the simulator's named root (and no
    VCEK is fetched from THIM). ``td_quote``: where TD quotes come from (default: Azure's quote
    endpoint over HTTP); ``thim``: fetch the VCEK chain from Azure's THIM on SEV-SNP.
    """

    name = "azure-vtpm"

    @property
    def kinds(self) -> tuple[TeeKind, ...]:
        """The Azure kinds of this reader (real or simulated paravisor), either platform."""
        return tuple(kind for (_, simulated), kind in _KINDS.items() if simulated == self.simulated)

    def __init__(
        self,
        tpm: AgentTpm,
        *,
        nv_index: int = HCL_NV_INDEX,
        imds_url: str = IMDS_URL,
        thim: bool = True,
        simulated: bool = False,
        fetch: Fetch = http_fetch,
        td_quote: Callable[[bytes], bytes] | None = None,
    ):
        self.tpm = tpm
        self.nv_index = nv_index
        self.imds_url = imds_url.rstrip("/")
        self.thim = thim
        self.simulated = simulated
        self._fetch = fetch
        self._td_quote = td_quote or self.fetch_td_quote

    def describe(self) -> str:
        source = "a simulated paravisor, NOT hardware-backed" if self.simulated else "Azure"
        return (
            f"Azure vTPM: HCL report in NV index 0x{self.nv_index:08x} (written by {source}), "
            f"quote endpoint {self.imds_url}{QUOTE_PATH}"
        )

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        """The HCL report (and TD quote); ``report_data`` is checked for form only: on Azure the
        paravisor chooses REPORT_DATA and the claims travel in the vTPM quote."""
        check_report_data(report_data)
        try:
            content = self.tpm.nv_read(self.nv_index)
        except TpmError as error:
            raise ProviderError(
                f"cannot read the HCL report from the vTPM NV index 0x{self.nv_index:08x}: "
                f"{error.message}",
                hint=error.hint or "is this an Azure confidential VM (its vTPM holds the index)?",
            ) from error
        try:
            hcl = parse_hcl_report(content)
        except CairnError as error:
            raise ProviderError(
                f"the vTPM NV index 0x{self.nv_index:08x} holds no valid HCL report: "
                f"{error.message}"
            ) from error
        kind = _KINDS[(hcl.report_type, self.simulated)]
        if hcl.report_type is HclReportType.TDX:
            quote = self._td_quote(hcl.hardware_report)
            return TeeEvidence(kind=kind, report=hcl.raw + quote)
        return TeeEvidence(kind=kind, report=hcl.raw, certificates=self._vcek_chain())

    def fetch_td_quote(self, td_report: bytes) -> bytes:
        """The TD quote Azure's quote endpoint makes from ``td_report``."""
        url = self.imds_url + QUOTE_PATH
        body = json.dumps({"report": base64.urlsafe_b64encode(td_report).decode().rstrip("=")})
        answer = self._fetch(url, body.encode(), {"Content-Type": "application/json"})
        quote = _b64url_decode(_json_member(answer, "quote", url), f"the quote from {url}")
        if len(quote) < 48 or quote[4:8] != b"\x81\x00\x00\x00":
            raise ProviderError(f"{url} answered something that is not a TDX quote")
        return quote

    def _vcek_chain(self) -> tuple[bytes, ...]:
        """VCEK, ASK and ARK from Azure's THIM (DER); () when not asked to. The verifier checks
        them against AMD's pinned ARK like any certificate, so a wrong one only fails there."""
        if not self.thim or self.simulated:
            return ()
        url = self.imds_url + THIM_PATH
        answer = self._fetch(url, None, {"Metadata": "true"})
        pem = "".join(
            str(_json_member(answer, member, url)) for member in ("vcekCert", "certificateChain")
        )
        return tuple(_pem_certificates(pem, url))


def _pem_certificates(text: str, source: str) -> list[bytes]:
    """The DER certificates of the PEM blocks in ``text``."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    found = []
    for block in text.split(begin)[1:]:
        body = block.split(end, 1)[0]
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
            parse_certificate(der)
        except (binascii.Error, ValueError, CairnError):
            raise ProviderError(f"{source} answered a certificate that cannot be read") from None
        found.append(der)
    if not found:
        raise ProviderError(f"{source} answered no certificate")
    return found
