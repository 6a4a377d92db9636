{
  description = "Cairn: NixOS confidential VMs (AMD SEV-SNP, Intel TDX) and an attestation verifier";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      python = pkgs.python3;
      verifierProject = (builtins.fromTOML (builtins.readFile ./verifier/pyproject.toml)).project;

      cairn-verifier = python.pkgs.buildPythonApplication {
        pname = verifierProject.name;
        inherit (verifierProject) version;
        pyproject = true;
        src = ./verifier;

        build-system = [ python.pkgs.setuptools ];
        dependencies = with python.pkgs; [
          cryptography
          httpx
          pydantic
        ];

        # The test suite lives at the repository root and needs ../shared test vectors;
        # it runs through `./dev test`. Here we only check that the package imports.
        pythonImportsCheck = [ "cairn_verifier" ];

        meta = {
          description = verifierProject.description;
          license = pkgs.lib.licenses.asl20;
          mainProgram = "cairn";
        };
      };
    in
    {
      packages.${system} = {
        inherit cairn-verifier;
        default = cairn-verifier;
      };

      apps.${system} = {
        verify = {
          type = "app";
          program = "${cairn-verifier}/bin/cairn";
          meta.description = "Verify SEV-SNP reports and TDX quotes (cairn CLI)";
        };
        default = self.apps.${system}.verify;
      };

      devShells.${system}.default = pkgs.mkShell {
        packages = [
          (python.withPackages (
            ps: with ps; [
              cryptography
              httpx
              pydantic
              pytest
              hypothesis
              pytest-benchmark
              mypy
              nox
            ]
          ))
          pkgs.ruff
        ];
      };
    };
}
