"""Intel TDX: DCAP quote model and parser, PCK certificates, collateral and verification."""
