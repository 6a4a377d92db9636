"""Binding a VM's services to its attestation: Poseidon2 (BN254) and the service tree."""
