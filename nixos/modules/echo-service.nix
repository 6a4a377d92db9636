# Shared definition of the two demo services (echo-cpp, echo-rust): a hardened systemd service
# whose private key stays in its own state directory and whose public key and package store
# path are registered with the Cairn agent, so the evidence commits to both.
#
# Usage: imports = [ (import ./echo-service.nix { name = "echo-cpp"; defaultPort = 9001; }) ];
{ name, defaultPort }:
{
  config,
  lib,
  ...
}:
let
  cfg = config.services.${name};
  privateDirectory = "/var/lib/cairn/${name}";
  publicKeyFile = "/var/lib/cairn/public-keys/${name}/public-key";
in
{
  options.services.${name} = {
    enable = lib.mkEnableOption "the ${name} signing echo service";
    package = lib.mkOption {
      type = lib.types.package;
      description = "The ${name} package (the flake's `packages.${name}`).";
    };
    listen = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1:${toString defaultPort}";
      description = "HOST:PORT the service listens on.";
    };
  };

  config = lib.mkIf cfg.enable {
    users.groups.${name} = { };
    users.users.${name} = {
      isSystemUser = true;
      group = name;
      description = "Cairn demo service ${name}";
    };

    # The agent commits to this service's package and key, and may not read its private key.
    services.cairn-agent.services.${name} = {
      storePath = "${cfg.package}";
      inherit publicKeyFile;
    };
    services.cairn-agent.hiddenPaths = [ privateDirectory ];

    systemd.services.${name} = {
      description = "Cairn demo service ${name}";
      wantedBy = [ "multi-user.target" ];
      before = [ "cairn-agent.service" ];
      after = [ "network.target" ];
      unitConfig.RequiresMountsFor = [ "/var/lib/cairn" ];
      serviceConfig = {
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
        # Private key: 0700. Public key: world-readable, for the agent.
        StateDirectory = [
          "cairn/${name}"
          "cairn/public-keys/${name}"
        ];
        StateDirectoryMode = "0755";
        ExecStartPre = "+/run/current-system/sw/bin/chmod 0700 ${privateDirectory}";
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
  };
}
