# NixOS VM test (flake `checks.x86_64-linux.cvm-qemu`): boot cvm-qemu with a software TPM.
#  1. First boot: the state volume is created and sealed to the TPM, the agent and both services
#     come up, and the test driver verifies the agent's evidence with `cairn verify evidence`.
#  2. Second boot with a changed PCR policy input (PCR 7 extended before cryptsetup runs, as a
#     change of Secure Boot state would): the TPM refuses to unseal, the state stays locked and
#     the agent does not start.
{ cairnPackages }:
{ pkgs, lib, ... }:
let
  tamperFlag = "/var/cairn-test/tamper-pcr7";
in
{
  name = "cairn-cvm-qemu";

  nodes.machine =
    { ... }:
    {
      imports = [ ../configurations/cvm-qemu.nix ];
      services.cairn-agent.package = cairnPackages.cairn-agent;
      services.echo-cpp.package = cairnPackages.echo-cpp;
      services.echo-rust.package = cairnPackages.echo-rust;
      environment.systemPackages = [
        pkgs.cryptsetup
        pkgs.curl
      ];

      # Test only: when the flag file exists, measure something unexpected into PCR 7 before
      # any volume is unlocked.
      systemd.services.cairn-test-tamper-pcr7 = {
        description = "TEST: extend PCR 7 before cryptsetup";
        wantedBy = [ "cryptsetup-pre.target" ];
        before = [
          "cryptsetup-pre.target"
          "cairn-state-init.service"
        ];
        wants = [ "dev-tpmrm0.device" ];
        after = [ "dev-tpmrm0.device" ];
        unitConfig = {
          DefaultDependencies = false;
          ConditionPathExists = tamperFlag;
        };
        environment.TPM2TOOLS_TCTI = "device:/dev/tpmrm0";
        serviceConfig.Type = "oneshot";
        script = ''
          ${pkgs.tpm2-tools}/bin/tpm2_pcrextend \
            7:sha256=${builtins.hashString "sha256" "cairn-test: unexpected boot component"}
        '';
      };
    };

  testScript = ''
    import json
    import subprocess

    machine.start()

    with subtest("first boot: state volume created and sealed to the TPM"):
        machine.wait_for_unit("cairn-state-init.service")
        machine.wait_for_unit("var-lib-cairn.mount")
        header = json.loads(machine.succeed("cryptsetup luksDump --dump-json-metadata /dev/vdb"))
        tokens = list(header["tokens"].values())
        assert [t["type"] for t in tokens] == ["systemd-tpm2"], tokens
        assert tokens[0]["tpm2-pcrs"] == [7], tokens
        # The random first-boot key was wiped: only the TPM2 token's keyslot remains.
        assert list(header["keyslots"]) == tokens[0]["keyslots"], header["keyslots"]
        machine.succeed("findmnt -n -o SOURCE /var/lib/cairn | grep -qx /dev/mapper/cairn-state")

    with subtest("agent and both services are up"):
        machine.wait_for_unit("echo-cpp.service")
        machine.wait_for_unit("echo-rust.service")
        machine.wait_for_unit("cairn-agent.service")
        machine.wait_for_open_port(8080)
        machine.wait_until_succeeds("curl -sf http://127.0.0.1:8080/healthz")
        services = machine.succeed("curl -sf http://127.0.0.1:8080/v1/services")
        assert "echo-cpp" in services and "echo-rust" in services, services

    with subtest("the test driver verifies the evidence"):
        machine.forward_port(host_port=18080, guest_port=8080)
        root_pem = machine.succeed("cairn-export-root")
        root_file = machine.out_dir / "simulated-root.pem"
        root_file.write_text(root_pem)
        result = subprocess.run(
            [
                "${cairnPackages.cairn-verifier}/bin/cairn",
                "verify", "evidence", "http://127.0.0.1:18080",
                "--trust-simulated-root", str(root_file),
            ],
            capture_output=True, text=True, timeout=300,
        )
        print(result.stdout, result.stderr)
        assert result.returncode == 0, f"cairn verify evidence exited {result.returncode}"

    with subtest("second boot with a changed PCR 7: the TPM refuses to unseal"):
        machine.succeed("mkdir -p ${dirOf tamperFlag} && touch ${tamperFlag} && sync")
        machine.shutdown()
        machine.start()
        machine.wait_for_unit("cairn-test-tamper-pcr7.service")
        machine.wait_until_succeeds("systemctl is-failed 'systemd-cryptsetup@cairn\\x2dstate.service'")
        machine.fail("mountpoint -q /var/lib/cairn")
        machine.fail("systemctl is-active cairn-agent.service")
        # Still a LUKS volume: nothing was reformatted, it is only locked.
        machine.succeed("cryptsetup isLuks /dev/vdb")
  '';
}
