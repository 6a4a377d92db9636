# The cloud CVM: one NixOS system, one disk image (../modules/cloud.nix), packaged for Azure
# (fixed VHD), GCP (disk.raw in a tar.gz) and AWS (VHD for an EBS snapshot import) by
# packages.cvm-cloud-{azure,gcp,aws}; booted by the cloud's UEFI firmware from a UKI and measured
# into the cloud's vTPM (PCR 4, 9, 11: packages.vtpm-reference-values).
#
# The agent's TEE provider stays "auto" (configfs-tsm or /dev/sev-guest): GCP and AWS hand the
# guest the raw SEV-SNP report or TD quote. Azure's CVMs need the vTPM/HCL provider (docs/cloud.md).
#
# Not done here: the providers' guest agents (Azure's waagent, Google's guest agent) are not
# included, so instance metadata (SSH keys, users) is never applied: by design nobody logs in.
{ ... }:
{
  imports = [
    ./common.nix
    ../modules/cloud.nix
  ];

  networking.hostName = "cairn-cvm-cloud";
  cairn.cvm.tee = "sev-snp";
  cairn.cloud.enable = true;
  services.cairn-agent.tee.provider = "auto";
}
