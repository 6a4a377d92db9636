"""NVIDIA GPU and NVSwitch attestation: SPDM evidence, device chains, RIMs, revocation.

The layers follow the SEV-SNP and TDX packages (docs/development.md, docs/gpu.md): parsers
(:mod:`.spdm`, :mod:`.opaque`, :mod:`.fwid`, :mod:`.rim`, :mod:`.ocsp`), the chains to NVIDIA's
pinned roots (:mod:`.roots`, :mod:`.chain`), collateral (:mod:`.collateral`), policy
(:mod:`.policy`) and the pipeline (:mod:`.verify`). Importing this package loads none of them.
"""
