# services/echo-cpp: C++ echo service signing its answers with secp256k1 (CMake).
{
  lib,
  stdenv,
  cmake,
  pkg-config,
  secp256k1,
  openssl,
}:
stdenv.mkDerivation {
  pname = "echo-cpp";
  version = "0.1.0";
  src = ../../services/echo-cpp;

  nativeBuildInputs = [
    cmake
    pkg-config
  ];
  buildInputs = [
    secp256k1
    openssl
  ];
  doCheck = true;

  meta = {
    description = "Cairn demo service: signed echo (C++)";
    license = lib.licenses.asl20;
    mainProgram = "echo-cpp";
    platforms = lib.platforms.linux;
  };
}
