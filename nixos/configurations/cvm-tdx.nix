# Intel TDX guest. Target platforms: GCP C3 (confidential-instance-type TDX), Azure DCesv5/ECesv5
# (TDX with a paravisor vTPM), and self-hosted QEMU/KVM on Sapphire/Emerald Rapids with a TDX
# host kernel. With direct kernel boot the TD firmware (TDVF/OVMF) measures itself into MRTD and
# the kernel, initrd and command line into RTMR[1]/RTMR[2]; a quote needs configfs-tsm (Linux
# >= 6.7) and a quote-generation service (QGS) on the host.
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
