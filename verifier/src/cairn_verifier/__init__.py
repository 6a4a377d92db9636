"""Cairn verifier: check confidential-VM attestation evidence and explain the outcome."""

__version__ = "0.1.0"
