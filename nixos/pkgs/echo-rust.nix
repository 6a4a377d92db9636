# services/echo-rust: Rust (std only) echo service calling libsecp256k1 and libcrypto over FFI.
# No crates are needed, so the Cargo.lock alone pins the build (no vendor hash).
{
  lib,
  rustPlatform,
  pkg-config,
  secp256k1,
  openssl,
}:
let
  manifest = (lib.importTOML ../../services/echo-rust/Cargo.toml).package;
in
rustPlatform.buildRustPackage {
  pname = manifest.name;
  inherit (manifest) version;
  src = ../../services/echo-rust;
  cargoLock.lockFile = ../../services/echo-rust/Cargo.lock;

  nativeBuildInputs = [ pkg-config ];
  buildInputs = [
    secp256k1
    openssl
  ];

  meta = {
    description = "Cairn demo service: signed echo (Rust)";
    license = lib.licenses.asl20;
    mainProgram = "echo-rust";
    platforms = lib.platforms.linux;
  };
}
