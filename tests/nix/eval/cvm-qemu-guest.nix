# The cvm-qemu configuration's Cairn pieces, as the Debian guest image (scripts/vm, `./dev vm`)
# uses them: each Cairn module evaluated with the stub lib (./modules.nix) for the settings
# cvm-qemu gives it, with the values one module passes to another (the services each echo
# module registers with the agent, the paths it hides from it) handed over the way nixpkgs'
# module system would merge them. The result is data: units, users, udev rules, crypttab,
# file systems, the agent's TOML and the VM's size and forwarded ports.
#
#   nix-instantiate --eval --strict --json tests/nix/eval/cvm-qemu-guest.nix
#
# scripts/vm/nixos-cvm-qemu.json is this output, committed (the image build needs no Nix);
# tests/vm/test_nixos_parity.py checks that it is current. Regenerate it with
#   ./dev vm -- nixos-eval --write
#
# keySource: cairn.luksTpm.keySource as the configuration would set it (`--argstr keySource
# snp-derived` is scripts/vm/nixos-cvm-qemu-snp-derived.json, `./dev vm -- test --key-source
# snp-derived`).
{
  keySource ? "tpm",
}:
let
  luksTpmSettings.cairn.luksTpm.keySource = keySource;
  e = import ./modules.nix { };
  inherit (e) drv;
  lib = e.lib;
  repo = ../../..;
  module = path: repo + "/nixos/${path}";
  agentOptions = {
    services.cairn-agent = { };
  };
  systemdPackage.systemd.package = drv "systemd-stub" { };

  # A definition with an mkOverride priority marker is the value it wraps (one definition each).
  unwrap =
    v:
    if builtins.isAttrs v && v ? _priority then
      unwrap v._value
    else if builtins.isAttrs v && !(v ? outPath) then
      builtins.mapAttrs (_: unwrap) v
    else
      v;

  definitionsOf = evaluated: unwrap evaluated.definitions;

  configuration =
    name: settings:
    definitionsOf (
      e.evalModule {
        module = module "configurations/${name}.nix";
        inherit settings;
      }
    );
  common = configuration "common" { };
  qemu = configuration "cvm-qemu" (
    luksTpmSettings
    // {
      services.cairn-agent.exportRoot = drv "cairn-export-root" { };
    }
  );

  echo =
    name:
    definitionsOf (
      e.evalModule {
        module = module "modules/${name}.nix";
        settings = systemdPackage // {
          services.${name} = (common.services.${name} or { }) // (qemu.services.${name} or { });
          services.cairn-agent.enable = true;
        };
        options = agentOptions;
      }
    );
  echoServices = {
    echo-cpp = echo "echo-cpp";
    echo-rust = echo "echo-rust";
  };
  registered = map (defs: defs.services.cairn-agent) (builtins.attrValues echoServices);

  agentSettings = lib.recursiveUpdate (lib.recursiveUpdate common.services.cairn-agent
    qemu.services.cairn-agent
  ) {
    services = builtins.foldl' (acc: r: acc // r.services) { } registered;
    hiddenPaths = builtins.concatLists (map (r: r.hiddenPaths) registered);
  };
  agentEvaluated = e.evalModule {
    module = module "modules/cairn-agent.nix";
    settings = systemdPackage // {
      services.cairn-agent = agentSettings;
    };
  };
  agentConfig = agentEvaluated.rawConfig.services.cairn-agent;

  luksTpm = definitionsOf (
    e.evalModule {
      module = module "modules/luks-tpm.nix";
      settings = systemdPackage // {
        cairn.luksTpm = common.cairn.luksTpm // qemu.cairn.luksTpm // luksTpmSettings.cairn.luksTpm;
        # What luks-tpm reads of the agent module (keySource snp-derived or broker).
        services.cairn-agent = agentConfig;
      };
      # qemu-vm.nix is imported by cvm-qemu: the module also defines its VM file systems.
      options = agentOptions // {
        virtualisation.fileSystems = { };
      };
    }
  );

  cvm = definitionsOf (
    e.evalModule {
      module = module "modules/cvm.nix";
      settings = {
        cairn.cvm = common.cairn.cvm // qemu.cairn.cvm;
        system = {
          name = "cairn-cvm-qemu";
          boot.loader.kernelFile = "bzImage";
          build = {
            toplevel = drv "nixos-system-cairn-cvm-qemu" { };
            kernel = drv "linux" { };
            initialRamdisk = drv "initrd" { };
          };
        };
        boot.kernelParams = [ ];
      };
      options = agentOptions;
    }
  );

  vmTest =
    let
      cairnPackages.cairn-verifier = drv "cairn-verifier-0.1.0" { meta.mainProgram = "cairn"; };
      test = import (module "tests/cvm-qemu.nix") { inherit cairnPackages; } { inherit lib; };
    in
    definitionsOf (e.evalModule { module = test.nodes.machine; });

  pick = names: attrs: lib.genAttrs (builtins.filter (n: attrs ? ${n}) names) (n: attrs.${n});
in
{
  agent = pick [ "systemd" "users" "services" ] (definitionsOf agentEvaluated) // {
    settings = e.toData agentConfig.configFile.tomlValue;
    # What the module writes into the services manifest (name -> store path, public key file).
    registeredServices = agentConfig.services;
    exportRootScript = agentConfig.exportRoot.text;
  };
  services = builtins.mapAttrs (_: defs: pick [ "systemd" "users" ] defs) echoServices;
  luksTpm = {
    inherit (luksTpm) systemd fileSystems;
    crypttab = luksTpm.environment.etc.crypttab.text;
  };
  cvm = {
    inherit (cvm.boot) kernelParams;
  };
  configuration = {
    inherit (qemu) systemd;
    inherit (qemu.networking) hostName;
    # Development VM: root logs in on the serial console without a password.
    rootHashedPassword = qemu.users.users.root.initialHashedPassword;
    virtualisation = pick [ "memorySize" "cores" "emptyDiskImages" "forwardPorts" ] qemu.virtualisation;
    luksTpm = qemu.cairn.luksTpm // luksTpmSettings.cairn.luksTpm;
  };
  vmTest.tamperUnit = vmTest.systemd.services.cairn-test-tamper-pcr7;
}
