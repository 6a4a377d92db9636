# OVMF built from OvmfPkg/AmdSev/AmdSevX64.dsc: the SEV/SNP firmware whose metadata has the
# SNP_KERNEL_HASHES section, so that direct kernel boot measures kernel, initrd and command line
# (nixpkgs' default OVMF is OvmfPkgX64, which has no such section).
{ OVMF }:
(OVMF.override {
  projectDscPath = "OvmfPkg/AmdSev/AmdSevX64.dsc";
  fwPrefix = "AMDSEV";
}).overrideAttrs
  (old: {
    pname = "OVMF-AmdSev";
    postPatch = (old.postPatch or "") + ''
      # The AmdSev platform can embed GRUB (for SEV secret injection into an encrypted disk);
      # Cairn boots the kernel directly with measured hashes, so GRUB stays out (empty stub).
      touch OvmfPkg/AmdSev/Grub/grub.efi
    '';
    # AmdSevX64 produces a single OVMF.fd (no CODE/VARS split).
    postInstall = ''
      mkdir -p $fd/FV
      mv -v $out/FV/OVMF.fd $fd/FV/OVMF.fd
    '';
    passthru = old.passthru // {
      firmware = "${placeholder "fd"}/FV/OVMF.fd";
    };
  })
