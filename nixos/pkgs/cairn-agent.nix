# The in-guest attestation agent (./agent); depends on the local verifier package.
{
  lib,
  python3Packages,
  cairn-verifier,
}:
let
  project = (lib.importTOML ../../agent/pyproject.toml).project;
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;
  src = ../../agent;

  build-system = [ python3Packages.setuptools ];
  dependencies =
    (with python3Packages; [
      aiohttp
      cryptography
      httpx
      joserfc
      pydantic
      tpm2-pytss
    ])
    ++ [ (python3Packages.toPythonModule cairn-verifier) ];

  pythonImportsCheck = [ "cairn_agent" ];

  meta = {
    inherit (project) description;
    license = lib.licenses.asl20;
    mainProgram = "cairn-agent";
  };
}
