# Intel TDX guest for self-hosted QEMU/KVM on Sapphire/Emerald Rapids with a TDX host kernel,
# booted directly with packages.cvm-tdx-boot: the TD firmware (TDVF) is measured into MRTD and
# measures the kernel, initrd and command line into RTMR[1]/RTMR[2]; a quote needs configfs-tsm
# (Linux >= 6.7) and a quote-generation service (QGS) on the host.
#
# The TDVF is packages.ovmf-inteltdx (OvmfPkg/IntelTdx); packages.tdx-reference-values computes
# MRTD, RTMR[1] and RTMR[2] from it and from packages.cvm-tdx-boot as a [tdx] policy (the host
# must launch exactly that firmware, with the memory size the values were computed for). RTMR[0]
# (TD HOB, QEMU's ACPI tables) is not computed: pin it from a known-good quote (`cairn show tdx`).
# Cloud TDX instances boot their provider's firmware: see cvm-cloud.nix.
{ ... }:
{
  imports = [
    ./common.nix
    ./hardware.nix
  ];

  networking.hostName = "cairn-cvm-tdx";
  cairn.cvm.tee = "tdx";
  services.cairn-agent.tee.provider = "configfs-tsm";
}
