# services/echo-cpp: C++ echo service signing its answers with secp256k1 (CMake).
{
  lib,
  stdenv,
  cmake,
  pkg-config,
  secp256k1,
  openssl,
}:
let
  # The version is written once, in CMakeLists.txt's project(); `echo-cpp --version` prints it.
  cmakeLists = builtins.readFile ../../services/echo-cpp/CMakeLists.txt;
  version = builtins.head (
    builtins.match ".*project\\(cairn_echo_cpp VERSION ([0-9.]+) .*" cmakeLists
  );
in
stdenv.mkDerivation {
  pname = "echo-cpp";
  inherit version;
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
