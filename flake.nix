{
  description = "Cairn: NixOS confidential VMs (AMD SEV-SNP, Intel TDX) and an attestation verifier";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      inherit (nixpkgs) lib;
      pkgs = nixpkgs.legacyPackages.${system};

      cairnPackages = rec {
        cairn-verifier = pkgs.callPackage ./nixos/pkgs/cairn-verifier.nix { };
        cairn-agent = pkgs.callPackage ./nixos/pkgs/cairn-agent.nix { inherit cairn-verifier; };
        echo-cpp = pkgs.callPackage ./nixos/pkgs/echo-cpp.nix { };
        echo-rust = pkgs.callPackage ./nixos/pkgs/echo-rust.nix { };
        ovmf-amdsev = pkgs.callPackage ./nixos/pkgs/ovmf-amdsev.nix { };
      };

      # Each module with its package defaulting to this flake's build.
      withPackage = file: name: {
        imports = [ file ];
        services.${name}.package = lib.mkDefault self.packages.${system}.${name};
      };
      modules = {
        cairn-agent = withPackage ./nixos/modules/cairn-agent.nix "cairn-agent";
        echo-cpp = withPackage ./nixos/modules/echo-cpp.nix "echo-cpp";
        echo-rust = withPackage ./nixos/modules/echo-rust.nix "echo-rust";
        cvm = ./nixos/modules/cvm.nix;
        luks-tpm = ./nixos/modules/luks-tpm.nix;
      };

      mkCvm =
        file:
        lib.nixosSystem {
          inherit system;
          modules = [
            file
            modules.cairn-agent
            modules.echo-cpp
            modules.echo-rust
          ];
        };

      cvms = {
        cvm-qemu = mkCvm ./nixos/configurations/cvm-qemu.nix;
        cvm-sev-snp = mkCvm ./nixos/configurations/cvm-sev-snp.nix;
        cvm-tdx = mkCvm ./nixos/configurations/cvm-tdx.nix;
      };

      reference-values = pkgs.callPackage ./nixos/pkgs/reference-values.nix {
        inherit (cairnPackages) cairn-verifier;
        ovmf = cairnPackages.ovmf-amdsev;
        boot = cvms.cvm-sev-snp.config.system.build.cairnBoot;
      };

      run-vm = pkgs.callPackage ./nixos/pkgs/run-vm.nix {
        vm = cvms.cvm-qemu.config.system.build.vm;
        inherit (cairnPackages) cairn-verifier;
      };
    in
    {
      packages.${system} = cairnPackages // {
        cvm-qemu-vm = cvms.cvm-qemu.config.system.build.vm;
        cvm-sev-snp-boot = cvms.cvm-sev-snp.config.system.build.cairnBoot;
        cvm-tdx-boot = cvms.cvm-tdx.config.system.build.cairnBoot;
        inherit reference-values run-vm;
        default = cairnPackages.cairn-verifier;
      };

      nixosModules = modules // {
        default.imports = builtins.attrValues modules;
      };

      nixosConfigurations = cvms;

      apps.${system} = {
        verify = {
          type = "app";
          program = "${cairnPackages.cairn-verifier}/bin/cairn";
          meta.description = "Verify SEV-SNP reports, TDX quotes and Cairn evidence (cairn CLI)";
        };
        run-vm = {
          type = "app";
          program = lib.getExe run-vm;
          meta.description = "Boot the cvm-qemu VM with a software TPM and the agent on 127.0.0.1:8080";
        };
        default = self.apps.${system}.verify;
      };

      checks.${system} = {
        inherit (cairnPackages)
          cairn-verifier
          cairn-agent
          echo-cpp
          echo-rust
          ;
        cvm-qemu = pkgs.testers.runNixOSTest (import ./nixos/tests/cvm-qemu.nix { inherit cairnPackages; });
      };

      devShells.${system}.default = pkgs.mkShell {
        packages = [
          (pkgs.python3.withPackages (
            ps: with ps; [
              cryptography
              httpx
              pydantic
              aiohttp
              tpm2-pytss
              pytest
              hypothesis
              pytest-benchmark
              mypy
              nox
            ]
          ))
          pkgs.ruff
          pkgs.swtpm
          pkgs.tpm2-tools
          pkgs.qemu
          pkgs.nodejs
          pkgs.cmake
          pkgs.pkg-config
          pkgs.secp256k1
          pkgs.openssl
          pkgs.cargo
          pkgs.rustc
          pkgs.sev-snp-measure
        ];
      };
    };
}
