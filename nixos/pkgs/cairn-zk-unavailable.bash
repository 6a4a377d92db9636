#!/usr/bin/env bash
# The `cairn` command of the Nix package (nixos/pkgs/cairn-verifier.nix): every command but
# `cairn zk` runs the verifier (@cairn@, substituted at build time). The zero-knowledge step needs
# the Noir circuits and their pinned npm toolchain (circuits/package-lock.json), which the Nix
# package does not carry: its npm dependency hash cannot be computed on the machines this project
# is developed on. Rather than fail later with a hint that cannot work in the Nix store
# ("run npm ci"), say so now, with exit code 64 (usage or setup error).
# Tested by tests/nix/test_nix_packages.py.
set -euo pipefail

if [[ "${1:-}" == zk ]]; then
  cat >&2 <<'EOF'
cairn zk: not available in the Nix package of Cairn: it does not include the Noir circuits and
their npm toolchain. Use a checkout of the repository instead: `pip install ./verifier` and
`npm ci --prefix circuits` there (set CAIRN_CIRCUITS_DIR=<checkout>/circuits when the verifier
is installed outside the checkout). Every other cairn command works in this package.
EOF
  exit 64
fi
exec @cairn@ "$@"
