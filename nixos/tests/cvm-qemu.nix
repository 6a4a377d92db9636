# NixOS VM test (flake `checks.x86_64-linux.cvm-qemu`): boot cvm-qemu with a software TPM.
#  1. First boot: cairn-state-init creates the state volume and seals it to the TPM; the services
#     make their keys before they start; the agent comes up; the simulated root reaches the host
#     through the xchg share and through cairn-export-root; the test driver verifies the agent's
#     evidence with `cairn verify evidence` and finds the booted system in the claims (reported
#     as self-reported: there are no reference values for a QEMU VM without a TEE).
#  2. The production profile (debug off, second VM): no console unit can be loaded, no agetty
#     runs, no Nix daemon, kernel modules locked after boot, /run/current-system is the booted
#     system.
#  3. Second boot with PCR 7 extended before cryptsetup runs (as a change of Secure Boot state
#     would): the TPM refuses to unseal, the state stays locked, the agent does not start, and
#     the volume is neither re-created nor opened by cairn-state-init.
# The same first-boot, unlock and tamper behaviours are tested on the development machines
# against file-backed volumes and swtpm (tests/nix/test_guest_state_init.py).
{ cairnPackages }:
{ lib, ... }:
let
  tamperFlag = "/var/cairn-test/tamper-pcr7";
  cryptsetupUnit = "systemd-cryptsetup@cairn\\x2dstate.service";
  common = {
    imports = [ ../configurations/cvm-qemu.nix ];
    # The driver forwards its own port (machine.forward_port); the configuration's fixed
    # 127.0.0.1:8080 would collide between the two VMs.
    virtualisation.forwardPorts = lib.mkForce [ ];
  };
in
{
  name = "cairn-cvm-qemu";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ common ];
      # Unique names: the driver names each VM after its start script (run-<system.name>-vm).
      networking.hostName = lib.mkForce "machine";
      environment.systemPackages = [
        pkgs.cryptsetup
        pkgs.curl
      ];

      # Test only: when the flag file exists, measure something unexpected into PCR 7 before the
      # state volume's cryptsetup unit runs (wanted by it and ordered before it, so it runs in
      # the same transaction; RemainAfterExit so that wait_for_unit sees it active).
      systemd.services.cairn-test-tamper-pcr7 = {
        description = "TEST: extend PCR 7 before cryptsetup";
        wantedBy = [ cryptsetupUnit ];
        before = [
          cryptsetupUnit
          "cairn-state-init.service"
        ];
        wants = [ "dev-tpmrm0.device" ];
        after = [ "dev-tpmrm0.device" ];
        unitConfig = {
          DefaultDependencies = false;
          ConditionPathExists = tamperFlag;
        };
        environment.TPM2TOOLS_TCTI = "device:/dev/tpmrm0";
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${pkgs.tpm2-tools}/bin/tpm2_pcrextend 7:sha256=${builtins.hashString "sha256" "cairn-test: unexpected boot component"}";
        };
      };
    };

  nodes.production = {
    imports = [ common ];
    networking.hostName = lib.mkForce "production";
    cairn.cvm.debug = false;
  };

  testScript = ''
    import json
    import subprocess

    start_all()

    with subtest("first boot: state volume created and sealed to the TPM"):
        machine.wait_for_unit("cairn-state-init.service")
        machine.wait_for_unit("var-lib-cairn.mount")
        header = json.loads(machine.succeed("cryptsetup luksDump --dump-json-metadata /dev/vdb"))
        tokens = list(header["tokens"].values())
        assert [t["type"] for t in tokens] == ["systemd-tpm2"], tokens
        assert tokens[0]["tpm2-pcrs"] == [7], tokens
        # The random first-boot key was wiped: only the TPM2 token's keyslot remains.
        assert list(header["keyslots"]) == tokens[0]["keyslots"], header["keyslots"]
        machine.succeed("blkid --probe -s SUBSYSTEM -o value /dev/vdb | grep -qx cairn-sealed")
        machine.succeed("findmnt -n -o SOURCE /var/lib/cairn | grep -qx /dev/mapper/cairn-state")

    with subtest("services made their keys before starting; the agent is up"):
        for service in ("echo-cpp", "echo-rust"):
            machine.wait_for_unit(f"{service}.service")
            machine.succeed(f"test -s /var/lib/cairn/public-keys/{service}/public-key")
            machine.succeed(f"stat -c %a /var/lib/cairn/{service} | grep -qx 700")
        machine.wait_for_unit("cairn-agent.service")
        machine.wait_for_open_port(8080)
        machine.wait_until_succeeds("curl -sf http://127.0.0.1:8080/healthz")
        services = machine.succeed("curl -sf http://127.0.0.1:8080/v1/services")
        assert "echo-cpp" in services and "echo-rust" in services, services

    with subtest("the simulated root: xchg share and cairn-export-root agree"):
        machine.wait_for_unit("cairn-export-simulated-root.service")
        exported = machine.succeed("cairn-export-root")
        assert exported.startswith("-----BEGIN CERTIFICATE-----"), exported
        assert machine.succeed("cat /tmp/xchg/simulated-root.pem") == exported

    with subtest("the test driver verifies the evidence; the claimed system is the booted one"):
        machine.forward_port(host_port=18080, guest_port=8080)
        root_file = machine.out_dir / "simulated-root.pem"
        root_file.write_text(exported)
        result = subprocess.run(
            [
                "${cairnPackages.cairn-verifier}/bin/cairn",
                "verify", "evidence", "http://127.0.0.1:18080",
                "--trust-simulated-root", str(root_file), "--json",
            ],
            capture_output=True, text=True, timeout=300,
        )
        print(result.stdout, result.stderr)
        assert result.returncode == 0, f"cairn verify evidence exited {result.returncode}"
        document = json.loads(result.stdout)
        booted = machine.succeed("readlink -f /run/booted-system").strip()
        assert document["claims"]["system"] == booted, (document["claims"], booted)
        assert any("SELF-REPORTED SYSTEM" in w for w in document["warnings"]), document["warnings"]

    with subtest("production profile: no logins, no Nix, modules locked"):
        production.wait_for_unit("multi-user.target")
        for unit in ("getty@tty1", "autovt@tty1", "serial-getty@ttyS0", "serial-getty@hvc0"):
            state = production.succeed(f"systemctl show -P LoadState {unit}.service").strip()
            assert state == "masked", (unit, state)
        production.fail("pgrep -x agetty")
        production.fail("test -e /run/current-system/sw/bin/nix-daemon")
        production.succeed('test "$(readlink -f /run/current-system)" = "$(readlink -f /run/booted-system)"')
        production.wait_for_unit("disable-kernel-module-loading.service")
        production.succeed("grep -qx 1 /proc/sys/kernel/modules_disabled")
        production.succeed("grep -qx 1 /proc/sys/kernel/kexec_load_disabled")
        production.wait_for_unit("cairn-agent.service")

    with subtest("second boot with a changed PCR 7: the TPM refuses to unseal"):
        machine.succeed("mkdir -p ${dirOf tamperFlag} && touch ${tamperFlag} && sync")
        machine.shutdown()
        machine.start()
        machine.wait_for_unit("cairn-test-tamper-pcr7.service")
        machine.wait_until_succeeds(r"systemctl is-failed '${cryptsetupUnit}'")
        machine.fail("mountpoint -q /var/lib/cairn")
        machine.fail("systemctl is-active cairn-agent.service")
        # Nothing was re-created: still the volume sealed on the first boot, only locked.
        machine.succeed("systemctl is-active cairn-state-init.service")
        machine.succeed("blkid --probe -s SUBSYSTEM -o value /dev/vdb | grep -qx cairn-sealed")
  '';
}
