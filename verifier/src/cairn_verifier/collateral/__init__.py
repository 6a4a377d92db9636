"""Collateral fetching shared by SNP and TDX: HTTP with back-off, disk cache, offline bundles."""
