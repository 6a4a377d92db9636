# AMD SEV-SNP guest for self-hosted QEMU/KVM on EPYC Milan/Genoa/Turin with SNP enabled, booted
# directly (`-kernel/-initrd/-append` from packages.cvm-sev-snp-boot, `-bios` the AmdSev OVMF from
# packages.ovmf-amdsev, `-object sev-snp-guest,...,kernel-hashes=on`): the AMD-SP measures the
# firmware, the VMSAs and the hashes of kernel, initrd and command line, and
# packages.reference-values recomputes that launch measurement.
#
# Not measured (docs/trust-model.md): the ACPI tables QEMU hands the firmware (the AmdSev OVMF
# neither measures nor verifies them; Contrast patches OVMF to verify them), and the vTPM, which
# is QEMU's/the host's. Cloud SEV-SNP instances boot their own firmware from a disk image; this
# flake builds no disk image, so they are not a target of this configuration.
{ ... }:
{
  imports = [
    ./common.nix
    ./hardware.nix
  ];

  networking.hostName = "cairn-cvm-sev-snp";
  cairn.cvm.tee = "sev-snp";
  # configfs-tsm on Linux >= 6.7, else /dev/sev-guest.
  services.cairn-agent.tee.provider = "auto";
}
