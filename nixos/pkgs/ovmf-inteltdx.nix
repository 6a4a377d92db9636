# TDVF: OVMF built from OvmfPkg/IntelTdx/IntelTdxX64.dsc, the TD firmware for the cvm-tdx direct
# boot. Its TDVF metadata tells the VMM which pages to add and measure into MRTD, which
# `cairn reference-values --tdx` recomputes (packages.tdx-reference-values). A single image
# (no separate variable store), built with nixpkgs' edk2.mkDerivation like ovmf-amdsev.nix.
{
  lib,
  edk2,
  nasm,
  acpica-tools,
  util-linux,
}:
edk2.mkDerivation "OvmfPkg/IntelTdx/IntelTdxX64.dsc" (finalAttrs: {
  pname = "OVMF-IntelTdx";
  inherit (edk2) version;

  nativeBuildInputs = [
    nasm
    acpica-tools
    util-linux
  ];

  # As for ovmf-amdsev.nix: edk2's -Werror and stack protection flags against nixpkgs' newer GCC.
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
    description = "TDVF: OVMF for Intel TDX guests (IntelTdxX64)";
    homepage = "https://github.com/tianocore/edk2/tree/master/OvmfPkg/IntelTdx";
    license = lib.licenses.bsd2;
    platforms = [ "x86_64-linux" ];
  };
})
