# Shared definition of the two demo services (echo-cpp, echo-rust): a hardened systemd service
# whose private key stays in its own state directory and whose public key and package store
# path are registered with the Cairn agent, so the evidence commits to both.
#
# The key is made before the service starts (ExecStartPre: scripts/guest/cairn-service-key, the
# services' own key format), so the unit is only "started" once its public key file exists; the
# agent, which reads every public key at start-up, is ordered after and requires the services.
#
# Usage: imports = [ (import ./echo-service.nix { name = "echo-cpp"; defaultPort = 9001; }) ];
{ name, defaultPort }:
{
  config,
  options,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.${name};
  privateDirectory = "/var/lib/cairn/${name}";
  publicKeyFile = "/var/lib/cairn/public-keys/${name}/public-key";
  guestScripts = pkgs.callPackage ../pkgs/guest-scripts.nix { systemd = config.systemd.package; };
  # The agent's options exist only when its module is imported (the nixpkgs idiom, as in
  # nixos/modules/testing/test-instrumentation.nix: `options ? virtualisation.qemu`).
  hasAgent = options ? services.cairn-agent;
  agentEnabled = hasAgent && config.services.cairn-agent.enable;
in
{
  options.services.${name} = {
    enable = lib.mkEnableOption "the ${name} signing echo service";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage (../pkgs + "/${name}.nix") { };
      defaultText = lib.literalExpression "pkgs.callPackage <cairn>/nixos/pkgs/${name}.nix { }";
      description = "The ${name} package (built from this repository with the system's nixpkgs).";
    };
    listen = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1:${toString defaultPort}";
      description = "HOST:PORT the service listens on.";
    };
  };

  config = lib.mkIf cfg.enable ({
    users.groups.${name} = { };
    users.users.${name} = {
      isSystemUser = true;
      group = name;
      description = "Cairn demo service ${name}";
    };

    systemd.services.${name} = {
      description = "Cairn demo service ${name}";
      wantedBy = [ "multi-user.target" ];
      # The agent reads this service's public key when it starts: start it only after the key
      # exists, and not at all if this service failed.
      before = lib.optional agentEnabled "cairn-agent.service";
      requiredBy = lib.optional agentEnabled "cairn-agent.service";
      after = [ "network.target" ];
      unitConfig.RequiresMountsFor = [ "/var/lib/cairn" ];
      serviceConfig = {
        # Runs as the service user: creates the key if missing, checks it, writes the public key.
        ExecStartPre = lib.escapeShellArgs [
          "${guestScripts}/bin/cairn-service-key"
          "--state-dir"
          privateDirectory
          "--public-key-file"
          publicKeyFile
        ];
        ExecStart = lib.escapeShellArgs [
          (lib.getExe cfg.package)
          "--listen"
          cfg.listen
          "--state-dir"
          privateDirectory
          "--public-key-file"
          publicKeyFile
        ];
        User = name;
        Group = name;
        # Public key directory world-readable, for the agent; cairn-service-key makes the
        # private key directory 0700 before the service starts.
        StateDirectory = [
          "cairn/${name}"
          "cairn/public-keys/${name}"
        ];
        StateDirectoryMode = "0755";
        UMask = "0022";
        Restart = "on-failure";

        CapabilityBoundingSet = [ "" ];
        DevicePolicy = "closed";
        NoNewPrivileges = true;
        PrivateDevices = true;
        PrivateTmp = true;
        PrivateUsers = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged @resources"
        ];
      };
    };
  }
  // lib.optionalAttrs hasAgent {
    # The agent commits to this service's package and key, and may not read its private key.
    services.cairn-agent.services.${name} = {
      storePath = "${cfg.package}";
      inherit publicKeyFile;
    };
    services.cairn-agent.hiddenPaths = [ privateDirectory ];
  });
}
