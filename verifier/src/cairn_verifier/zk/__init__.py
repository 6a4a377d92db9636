"""Zero-knowledge membership proofs: witness preparation, the Node driver and the dev CRS."""
