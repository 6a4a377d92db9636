# The `cairn` verifier CLI and library (./verifier).
{ lib, python3Packages }:
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

  meta = {
    inherit (project) description;
    license = lib.licenses.asl20;
    mainProgram = "cairn";
  };
}
