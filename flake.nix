{
  description = "Cairn: NixOS confidential VMs (AMD SEV-SNP, Intel TDX) and an attestation verifier";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  # Evaluated: no (nixpkgs cannot be fetched where this is developed); parse-checked and
  # shape-checked with stub inputs by .ci/run and tests/nix. The GitHub workflow
  # (.github/workflows/nix.yml) runs `nix flake check -L`, the first real evaluation.
  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # The portable parts build on both; the VMs, OVMF and the VM test are x86_64 only.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      vmSystem = "x86_64-linux";
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      packagesFor = pkgs: rec {
        cairn-verifier = pkgs.callPackage ./nixos/pkgs/cairn-verifier.nix { };
        cairn-agent = pkgs.callPackage ./nixos/pkgs/cairn-agent.nix { inherit cairn-verifier; };
        echo-cpp = pkgs.callPackage ./nixos/pkgs/echo-cpp.nix { };
        echo-rust = pkgs.callPackage ./nixos/pkgs/echo-rust.nix { };
        cairn-guest-scripts = pkgs.callPackage ./nixos/pkgs/guest-scripts.nix { };
        default = cairn-verifier;
      };

      pkgs = nixpkgs.legacyPackages.${vmSystem};
      cairnPackages = packagesFor pkgs;

      # Modules are functions (not paths), and each builds its default package from the
      # system's own nixpkgs: nothing here is tied to x86_64.
      modules = {
        cairn-agent = import ./nixos/modules/cairn-agent.nix;
        echo-cpp = import ./nixos/modules/echo-cpp.nix;
        echo-rust = import ./nixos/modules/echo-rust.nix;
        cvm = import ./nixos/modules/cvm.nix;
        luks-tpm = import ./nixos/modules/luks-tpm.nix;
        gpu = import ./nixos/modules/gpu.nix;
      };

      mkCvm =
        file:
        lib.nixosSystem {
          modules = [
            file
            { nixpkgs.hostPlatform = vmSystem; }
          ];
        };

      cvms = {
        cvm-qemu = mkCvm ./nixos/configurations/cvm-qemu.nix;
        cvm-sev-snp = mkCvm ./nixos/configurations/cvm-sev-snp.nix;
        cvm-tdx = mkCvm ./nixos/configurations/cvm-tdx.nix;
        cvm-cloud = mkCvm ./nixos/configurations/cvm-cloud.nix;
      };

      ovmf-amdsev = pkgs.callPackage ./nixos/pkgs/ovmf-amdsev.nix { };

      reference-values = pkgs.callPackage ./nixos/pkgs/reference-values.nix {
        inherit (cairnPackages) cairn-verifier;
        ovmf = ovmf-amdsev;
        boot = cvms.cvm-sev-snp.config.system.build.cairnBoot;
      };

      # TDX: the TDVF cvm-tdx boots with, and what it and the direct-boot bundle measure.
      ovmf-inteltdx = pkgs.callPackage ./nixos/pkgs/ovmf-inteltdx.nix { };
      tdx-reference-values = pkgs.callPackage ./nixos/pkgs/tdx-reference-values.nix {
        inherit (cairnPackages) cairn-verifier;
        tdvf = ovmf-inteltdx;
        boot = cvms.cvm-tdx.config.system.build.cairnBoot;
      };

      # Cloud: one repart disk image of cvm-cloud, packaged per cloud, and its vTPM PCRs.
      cloudConfig = cvms.cvm-cloud.config;
      cloudImages = lib.genAttrs [ "azure" "gcp" "aws" ] (
        cloud:
        pkgs.callPackage ./nixos/pkgs/cloud-image.nix {
          inherit cloud;
          inherit (cloudConfig.system.build) image;
          inherit (cloudConfig.image.repart) imageFile;
        }
      );
      cloudUki = "${cloudConfig.system.build.uki}/${cloudConfig.system.boot.loader.ukiFile}";
      vtpm-reference-values = pkgs.callPackage ./nixos/pkgs/vtpm-reference-values.nix {
        inherit (cairnPackages) cairn-verifier;
        uki = cloudUki;
      };

      run-vm = pkgs.callPackage ./nixos/pkgs/run-vm.nix {
        vm = cvms.cvm-qemu.config.system.build.vm;
        inherit (cvms.cvm-qemu.config.system) name;
        inherit (cairnPackages) cairn-verifier;
      };

      verifyApp = packages: {
        type = "app";
        program = lib.getExe packages.cairn-verifier;
        meta.description = "Verify SEV-SNP reports, TDX quotes and Cairn evidence (cairn CLI)";
      };
    in
    {
      packages = forAllSystems packagesFor // {
        ${vmSystem} = cairnPackages // {
          inherit
            ovmf-amdsev
            reference-values
            run-vm
            ovmf-inteltdx
            tdx-reference-values
            vtpm-reference-values
            ;
          cvm-qemu-vm = cvms.cvm-qemu.config.system.build.vm;
          cvm-sev-snp-boot = cvms.cvm-sev-snp.config.system.build.cairnBoot;
          cvm-tdx-boot = cvms.cvm-tdx.config.system.build.cairnBoot;
          cvm-cloud-uki = cloudConfig.system.build.uki;
          cvm-cloud-azure = cloudImages.azure;
          cvm-cloud-gcp = cloudImages.gcp;
          cvm-cloud-aws = cloudImages.aws;
        };
      };

      nixosModules = modules // {
        default = {
          imports = builtins.attrValues modules;
        };
      };

      nixosConfigurations = cvms;

      apps = forAllSystems (p: {
        verify = verifyApp (packagesFor p);
        default = verifyApp (packagesFor p);
      }) // {
        ${vmSystem} = {
          verify = verifyApp cairnPackages;
          default = verifyApp cairnPackages;
          run-vm = {
            type = "app";
            program = lib.getExe run-vm;
            meta.description = "Boot cvm-qemu (software TPM, disks in one state directory, agent on 127.0.0.1:8080)";
          };
        };
      };

      checks.${vmSystem} = {
        inherit (cairnPackages)
          cairn-verifier
          cairn-agent
          echo-cpp
          echo-rust
          cairn-guest-scripts
          ;
        inherit run-vm;
        # The production configurations build (their assertions hold, their units render).
        cvm-sev-snp-toplevel = cvms.cvm-sev-snp.config.system.build.toplevel;
        cvm-tdx-toplevel = cvms.cvm-tdx.config.system.build.toplevel;
        cvm-cloud-toplevel = cvms.cvm-cloud.config.system.build.toplevel;
        cvm-qemu = pkgs.testers.runNixOSTest (import ./nixos/tests/cvm-qemu.nix { inherit cairnPackages; });
      };

      devShells = forAllSystems (p: {
        default = p.mkShell {
          packages = [
            (p.python3.withPackages (
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
            p.ruff
            p.shellcheck
            p.swtpm
            p.tpm2-tools
            p.cryptsetup
            p.jq
            p.qemu
            p.nodejs
            p.cmake
            p.pkg-config
            p.secp256k1
            p.openssl
            p.cargo
            p.rustc
            p.sev-snp-measure
          ];
        };
      });
    };
}
