"""TPM 2.0: strict unmarshalling of quotes, signatures and public areas, and quote verification."""
