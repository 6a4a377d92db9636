"""X.509 certificates and CRLs read with Cairn's own DER parser."""
