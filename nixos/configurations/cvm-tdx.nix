# Intel TDX guest for self-hosted QEMU/KVM on Sapphire/Emerald Rapids with a TDX host kernel,
# booted directly with packages.cvm-tdx-boot: the TD firmware (TDVF) is measured into MRTD and
# measures the kernel, initrd and command line into RTMR[1]/RTMR[2]; a quote needs configfs-tsm
# (Linux >= 6.7) and a quote-generation service (QGS) on the host.
#
# Not provided by this flake (docs/trust-model.md): the TDVF. It is neither built nor pinned
# here, so MRTD is whatever firmware the host supplies, and no reference values are computed for
# MRTD/RTMRs: read them from a known-good quote (`cairn show tdx`) and pin them in `[tdx]`.
# Cloud TDX instances boot their own firmware from a disk image; this flake builds no disk
# image, so they are not a target of this configuration.
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
