# Shared by the hardware CVMs (SEV-SNP, TDX): the whole Nix store is carried in the measured
# initrd (squashfs, as NixOS netboot images do), so the launch measurement covers every file of
# the system and not only its store path. State lives on the TPM-sealed LUKS volume, on the
# partition labelled cairn-state (GPT partition name) of a disk the VMM attaches.
{ modulesPath, ... }:
{
  imports = [ "${modulesPath}/installer/netboot/netboot.nix" ];

  cairn.luksTpm.device = "/dev/disk/by-partlabel/cairn-state";
}
