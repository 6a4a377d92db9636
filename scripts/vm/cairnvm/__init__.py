"""A Cairn VM without Nix: a Debian guest built from Debian packages and this checkout, booted
under QEMU with swtpm and attested from the host (``./dev vm``; README, "Run a Cairn VM without
Nix").

Modules: :mod:`.nixos` (the NixOS configuration the guest follows), :mod:`.render` (its units and
files for Debian), :mod:`.inputs` (cache keys), :mod:`.image` (the image build), :mod:`.machine`
(QEMU, swtpm, QMP), :mod:`.scenario` (the end-to-end test), :mod:`.cli`.
"""
