# OVMF built from OvmfPkg/AmdSev/AmdSevX64.dsc: the SEV/SNP firmware whose metadata has the
# SNP_KERNEL_HASHES section, so that direct kernel boot measures kernel, initrd and command line
# (nixpkgs' OVMF is OvmfPkgX64, which has no such section).
#
# Built with nixpkgs' edk2.mkDerivation (pkgs/by-name/ed/edk2/package.nix, passthru.mkDerivation:
# it installs Build/*/* as $out, so the image is $out/FV/OVMF.fd), as Contrast builds its OVMF-SNP
# (edgelesssys/contrast packages/by-name/OVMF-SNP/package.nix). AmdSevX64 is a stateless,
# single-image firmware: there is no separate variable store (no `variables`), and it is built
# without TPM support, so it measures nothing into a vTPM (PCR 7 stays constant).
{
  lib,
  edk2,
  nasm,
  acpica-tools,
  util-linux,
}:
edk2.mkDerivation "OvmfPkg/AmdSev/AmdSevX64.dsc" (finalAttrs: {
  pname = "OVMF-AmdSev";
  inherit (edk2) version;

  nativeBuildInputs = [
    nasm
    acpica-tools
    util-linux
  ];

  # The AmdSev platform can embed GRUB (for SEV secret injection into an encrypted disk);
  # Cairn boots the kernel directly with measured hashes, so GRUB stays out (empty stub).
  postPatch = ''
    touch OvmfPkg/AmdSev/Grub/grub.efi
  '';

  # edk2 builds with -Werror, and nixpkgs' GCC is newer than edk2's CI compiler; stack
  # protection flags from the compiler wrapper are overridden by edk2's own tools_def, so they
  # are turned off there (Contrast does the same for its OVMF-SNP).
  postConfigure = ''
    sed -i 's/-Werror//g' Conf/tools_def.txt
    sed -i 's/-fstack-protector/-fno-stack-protector/g' Conf/tools_def.txt
  '';

  hardeningDisable = [
    "format"
    "stackprotector"
    "pic"
    "fortify"
  ];

  passthru.firmware = "${finalAttrs.finalPackage}/FV/OVMF.fd";

  meta = {
    description = "OVMF for AMD SEV-SNP direct kernel boot with measured kernel hashes (AmdSevX64)";
    homepage = "https://github.com/tianocore/edk2/tree/master/OvmfPkg/AmdSev";
    license = lib.licenses.bsd2;
    platforms = [ "x86_64-linux" ];
  };
})
