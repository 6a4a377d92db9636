# Everything tests/nix/test_unit_lint.py inspects, as one JSON document: each Cairn module
# evaluated on its own (./modules.nix) for the settings that matter (production vs. debug,
# with and without the agent module, VM vs. hardware), the VM configurations' own definitions,
# the NixOS VM test's nodes and script, and the package expressions of nixos/pkgs.
#
#   nix-instantiate --eval --strict --json tests/nix/eval/lint.nix
let
  e = import ./modules.nix { };
  inherit (e) drv pkgs;
  repo = ../../..;
  module = path: repo + "/nixos/${path}";
  agentOptions = {
    services.cairn-agent = { };
  };
  systemdPackage.systemd.package = drv "systemd-stub" { };

  cvmSettings = tee: debug: {
    cairn.cvm = {
      enable = true;
      inherit tee debug;
    };
    system = {
      name = "cairn-cvm-${tee}";
      boot.loader.kernelFile = "bzImage";
      build = {
        toplevel = drv "nixos-system-cairn-cvm-${tee}" { };
        kernel = drv "linux" { };
        initialRamdisk = drv "initrd" { };
      }
      // (if tee == "simulated" then { } else { netbootRamdisk = drv "netboot-initrd" { }; });
    };
    boot.kernelParams = [
      "panic=1"
      "oops=panic"
      "nohibernate"
    ];
  };

  view = evaluated: {
    inherit (evaluated) definitions declaredTypeErrors imports;
  };

  cvm =
    tee: debug: options:
    view (
      e.evalModule {
        module = module "modules/cvm.nix";
        settings = cvmSettings tee debug;
        inherit options;
      }
    );

  luksTpm = device: options: luksKeySource device { } options;

  # keySource snp-derived and broker read the agent module's package and configuration file.
  agentForKeys.services.cairn-agent = {
    package = drv "cairn-agent" { meta.mainProgram = "cairn-agent"; };
    configFile = drv "cairn-agent.toml" { };
  };
  luksKeySource =
    device: extra: options:
    view (
      e.evalModule {
        module = module "modules/luks-tpm.nix";
        settings =
          systemdPackage
          // (if extra == { } then { } else agentForKeys)
          // {
            cairn.luksTpm = {
              enable = true;
            }
            // extra
            // (if device == null then { } else { inherit device; });
          };
        inherit options;
      }
    );

  echo =
    name: options:
    view (
      e.evalModule {
        module = module "modules/${name}.nix";
        settings = systemdPackage // {
          services.${name}.enable = true;
          services.cairn-agent.enable = options != { };
        };
        inherit options;
      }
    );

  agent =
    provider:
    let
      evaluated = e.evalModule {
        module = module "modules/cairn-agent.nix";
        settings = systemdPackage // {
          services.cairn-agent = {
            enable = true;
            tee.provider = provider;
          };
        };
      };
      cfg = evaluated.result.options.services.cairn-agent;
    in
    view evaluated
    // {
      toml = e.toData evaluated.rawConfig.services.cairn-agent.configFile.tomlValue;
      exportRootScript = evaluated.rawConfig.services.cairn-agent.exportRoot.text;
      packageDefault = e.toData cfg.package.default.meta;
    };

  cloud = view (
    e.evalModule {
      module = module "modules/cloud.nix";
      settings = {
        cairn.cloud.enable = true;
        system = {
          build = {
            toplevel = drv "nixos-system-cairn-cvm-cloud" { };
            uki = drv "nixos-uki" { };
          };
          boot.loader.ukiFile = "nixos_25.11.efi";
        };
      };
    }
  );

  configuration =
    name: settings:
    view (
      e.evalModule {
        module = module "configurations/${name}.nix";
        inherit settings;
      }
    );

  vmTest =
    let
      cairnPackages.cairn-verifier = drv "cairn-verifier-0.1.0" { meta.mainProgram = "cairn"; };
      test = import (module "tests/cvm-qemu.nix") { inherit cairnPackages; } { inherit (e) lib; };
      node = n: e.evalModule { module = n; };
      machine = node test.nodes.machine;
      common = node (builtins.head test.nodes.production.imports);
    in
    {
      inherit (test) name testScript;
      nodes = builtins.mapAttrs (_: n: view (node n)) test.nodes;
      common = view common;
    };

  package =
    path: args:
    let
      p = pkgs.callPackage (module "pkgs/${path}") args;
    in
    p;
  verifier = package "cairn-verifier.nix" { };
  ovmf = package "ovmf-amdsev.nix" { };
  guestScripts = package "guest-scripts.nix" { };
  runVm = package "run-vm.nix" {
    vm = drv "nixos-vm" { };
    name = "cairn-cvm-qemu";
    cairn-verifier = verifier;
  };
  referenceValues = package "reference-values.nix" {
    cairn-verifier = verifier;
    inherit ovmf;
    boot = drv "cairn-boot" { };
  };
  tdvf = package "ovmf-inteltdx.nix" { };
  tdxReferenceValues = package "tdx-reference-values.nix" {
    cairn-verifier = verifier;
    inherit tdvf;
    boot = drv "cairn-boot" { };
  };
  vtpmReferenceValues = package "vtpm-reference-values.nix" {
    cairn-verifier = verifier;
    uki = "/nix/store/00000000000000000000000000000000-nixos-uki/nixos.efi";
  };
  cloudImage =
    cloud:
    package "cloud-image.nix" {
      inherit cloud;
      image = drv "repart-image" { };
      imageFile = "cairn-cvm-cloud.raw";
    };
in
{
  modules = {
    cvm-sev-snp-production = cvm "sev-snp" false agentOptions;
    cvm-tdx-production = cvm "tdx" false agentOptions;
    cvm-qemu-debug = cvm "simulated" true agentOptions;
    cvm-without-agent = cvm "sev-snp" false { };
    luks-tpm-vm = luksTpm "/dev/vdb" { virtualisation.fileSystems = { }; };
    luks-tpm-hardware = luksTpm null { };
    luks-snp-derived = luksKeySource null { keySource = "snp-derived"; } agentOptions;
    luks-broker = luksKeySource "/dev/vdb" {
      keySource = "broker";
      broker = {
        url = "https://broker.example:8443";
        caFile = "/etc/cairn/broker-ca.pem";
        secrets = [ "echo-cpp-token" ];
      };
    } (agentOptions // { virtualisation.fileSystems = { }; });
    echo-cpp-with-agent = echo "echo-cpp" agentOptions;
    echo-rust-with-agent = echo "echo-rust" agentOptions;
    echo-cpp-without-agent = echo "echo-cpp" { };
    agent-simulated = agent "simulated-snp";
    agent-auto = agent "auto";
    cloud = cloud;
  };

  configurations = {
    common = configuration "common" { };
    cvm-qemu = configuration "cvm-qemu" {
      services.cairn-agent.exportRoot = drv "cairn-export-root" { };
    };
    cvm-sev-snp = configuration "cvm-sev-snp" { };
    cvm-tdx = configuration "cvm-tdx" { };
    cvm-cloud = configuration "cvm-cloud" { };
    hardware = configuration "hardware" { };
  };

  inherit vmTest;

  packages = {
    cairn-verifier = {
      inherit (verifier) postFixup;
      mainProgram = verifier.meta.mainProgram;
    };
    ovmf-amdsev = {
      inherit (ovmf) projectDscPath postConfigure name;
      firmware = ovmf.firmware;
      storePath = ovmf.outPath;
      hasVariables = ovmf ? variables;
      outputs = ovmf.outputs or [ "out" ];
    };
    cairn-guest-scripts = {
      inherit (guestScripts) installPhase installCheckPhase;
      src = toString guestScripts.src;
    };
    run-vm = {
      inherit (runVm) installPhase;
      src = toString runVm.src;
      mainProgram = runVm.meta.mainProgram;
    };
    reference-values = {
      inherit (referenceValues) buildCommand;
    };
    ovmf-inteltdx = {
      inherit (tdvf) projectDscPath postConfigure name;
      firmware = tdvf.firmware;
      storePath = tdvf.outPath;
    };
    tdx-reference-values = {
      inherit (tdxReferenceValues) buildCommand;
    };
    vtpm-reference-values = {
      inherit (vtpmReferenceValues) buildCommand;
    };
    cloud-images = builtins.listToAttrs (
      map (cloud: {
        name = cloud;
        value = {
          inherit (cloudImage cloud) buildCommand;
        };
      }) [ "azure" "gcp" "aws" ]
    );
  };
}
