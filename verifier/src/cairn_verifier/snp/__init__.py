"""AMD SEV-SNP: attestation report model, AMD certificates, KDS client and verification."""
