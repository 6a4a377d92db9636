# The `cairn` verifier CLI and library (./verifier).
#
# `cairn zk` is not packaged: it needs the Noir circuits and their pinned npm toolchain, whose
# dependency hash cannot be computed where this project is developed (no npm registry for Nix
# fetchers). bin/cairn answers `cairn zk` with exit 64 and what to do instead
# (cairn-zk-unavailable.bash); every other command is the Python entry point.
{
  lib,
  python3Packages,
  bash,
}:
let
  project = (lib.importTOML ../../verifier/pyproject.toml).project;
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;
  src = ../../verifier;

  build-system = [ python3Packages.setuptools ];
  dependencies = with python3Packages; [
    cryptography
    httpx
    pydantic
  ];

  # The test suite lives at the repository root (vectors in tests/vectors);
  # it runs through `./dev test`. Here we only check that the package imports.
  pythonImportsCheck = [ "cairn_verifier" ];

  buildInputs = [ bash ]; # for patchShebangs of the bin/cairn guard
  postFixup = ''
    mv $out/bin/cairn $out/bin/.cairn-python
    substitute ${./cairn-zk-unavailable.bash} $out/bin/cairn \
      --replace-fail @cairn@ $out/bin/.cairn-python
    chmod +x $out/bin/cairn
    patchShebangs --host $out/bin/cairn
  '';

  meta = {
    inherit (project) description;
    license = lib.licenses.asl20;
    mainProgram = "cairn";
  };
}
