# AMD SEV-SNP guest. Target platforms (direct kernel boot with an AmdSev OVMF measures kernel,
# initrd and command line into the launch measurement):
#  * self-hosted QEMU/KVM on EPYC Milan/Genoa/Turin with SNP enabled (`-machine
#    confidential-guest-support=sev0 -object sev-snp-guest,...,kernel-hashes=on`), the fully
#    measured path that `packages.reference-values` describes;
#  * Azure DCasv5/ECasv5 (and DCasv6/ECasv6): SNP with a vTPM in the paravisor; the image boots
#    through Azure's own firmware (UKI on a VHD), so the launch measurement covers the paravisor
#    and firmware, and the OS is measured into the vTPM: verify the TPM quote (PCRs 4, 9, 11);
#  * GCP N2D with SEV-SNP and AWS M6a/C6a/R6a with SEV-SNP: the providers' firmware boots a UEFI
#    disk image; use their published firmware measurements and the vTPM (NitroTPM on AWS).
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
  # Azure/GCP/AWS guests: the vTPM's event log is at the usual path.
  services.cairn-agent.tpm.required = true;
}
