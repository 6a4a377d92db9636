"""The end-to-end test (``./dev vm``): three boots of one VM, attested from the host.

It asserts what the NixOS VM test (nixos/tests/cvm-qemu.nix) asserts, on a Debian guest:

1. **First boot.** ``cairn-state-init`` formats the empty state disk as LUKS2, enrols a
   ``systemd-tpm2`` token sealed to PCR 7, wipes the key-file slot (one keyslot, the token's)
   and marks the header ``cairn-sealed``; ``/var/lib/cairn`` is mounted from
   ``/dev/mapper/cairn-state``; both services made their keys before starting (private
   directories 0700, public key files written); the agent is healthy; the simulated root in the
   xchg share equals what ``cairn-export-root`` prints. From the host: ``cairn verify evidence``
   with a policy that pins the system claim (the image's system path, reported as
   SELF-REPORTED) and requires both services with their package paths; then one request to
   each echo service through its forwarded port, its inclusion proof against the verified tree
   root (``cairn tree proof``/``tree verify``) and its signature against the key the verified
   evidence attests (``cairn verify response --evidence --service``); a response with a changed
   signature is refused (exit 2).
2. **Reboot.** The volume unlocks from the TPM without a prompt; ``cairn-state-init`` finds its
   sealed volume (nothing to do, nothing formatted); the LUKS header is the same one; the
   evidence verifies with the services' public keys from the first boot pinned, and the tree
   root is the first boot's.
3. **A changed PCR 7.** The NixOS test's tamper unit extends PCR 7 before cryptsetup runs: the
   TPM refuses to unseal, the cryptsetup unit fails, ``/var/lib/cairn`` is not mounted, the
   agent does not start (``cairn verify evidence`` exits 6), ``cairn-state-init`` still sees its
   sealed volume, and not one byte of the state disk changed.

Not covered here (Debian has no such profile): the NixOS test's production node (no consoles,
no Nix daemon, modules locked).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import nixos, render
from .image import Builder, Image
from .machine import Disks, Machine, Settings, choose_accel, free_port
from .steps import StepError, Steps

SERVICES = ("echo-cpp", "echo-rust")
AGENT_PORT = 8080
SERVICE_PORTS = {"echo-cpp": 9001, "echo-rust": 9002}
CRYPTSETUP_UNIT = "systemd-cryptsetup@cairn\\x2dstate.service"
FIRST_BOOT_ACTIVE = (
    "cairn-state-init.service",
    CRYPTSETUP_UNIT,
    "var-lib-cairn.mount",
    "cairn-export-simulated-root.service",
    "echo-cpp.service",
    "echo-rust.service",
    "cairn-agent.service",
)
KEPT_RUNS = 5
EXIT_EVIDENCE_UNAVAILABLE = 6
EXIT_SIGNATURE_INVALID = 2


@dataclass(frozen=True)
class Options:
    cache: Path
    accel: str = "auto"
    boot_timeout: float = 900.0
    keep: bool = False
    rebuild: bool = False
    key_source: str = "tpm"
    """``tpm``: this module's three boots; ``snp-derived``: :mod:`.derived`'s."""


def expect(condition: bool, message: str, details: object = "") -> None:
    if not condition:
        text = (
            details if isinstance(details, str) else json.dumps(details, indent=2, sort_keys=True)
        )
        raise StepError(message, text)


def forwarded_guest_ports(data: Mapping[str, Any]) -> list[int]:
    """The guest ports cvm-qemu forwards (agent and services), from the NixOS configuration."""
    ports = [
        int(rule["guest"]["port"])
        for rule in data["configuration"]["virtualisation"]["forwardPorts"]
    ]
    expected = sorted([AGENT_PORT, *SERVICE_PORTS.values()])
    expect(sorted(ports) == expected, f"cvm-qemu forwards {ports}, this test expects {expected}")
    return ports


def settings_for(data: Mapping[str, Any], accel: str, forwards: Mapping[int, int]) -> Settings:
    virtualisation = data["configuration"]["virtualisation"]
    return Settings(
        memory_mib=int(virtualisation["memorySize"]),
        cores=int(virtualisation["cores"]),
        accel=accel,
        forwards=dict(forwards),
    )


def state_disk_mib(data: Mapping[str, Any]) -> int:
    sizes = data["configuration"]["virtualisation"]["emptyDiskImages"]
    expect(
        len(sizes) == 1, f"cvm-qemu has {len(sizes)} empty disks; the state volume is the only one"
    )
    return int(sizes[0])


def wait_until(machine: Machine, deadline: float, what: str, probe: Callable[[], Any]) -> Any:
    """Poll ``probe`` (a readiness check, every 0.5 s) until it returns non-None or time is up."""
    while True:
        machine.check_running(f"waiting for {what}")
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise StepError(f"timed out waiting for {what}", machine.diagnostics())
        time.sleep(0.5)


def healthz(port: int) -> dict[str, Any] | None:
    """The agent's /healthz document once it answers 200; StepError on a 503 (refusing)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            body: dict[str, Any] = json.loads(answer.read())
            return body
    except urllib.error.HTTPError as exc:
        raise StepError(
            f"the agent answers /healthz with {exc.code}", exc.read().decode(errors="replace")
        ) from None
    except (OSError, ValueError):
        return None


def agent_reachable(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def luks_header(state: Path) -> dict[str, Any]:
    """The state disk's LUKS2 header as the host reads it (no device-mapper needed)."""
    done = subprocess.run(
        ["cryptsetup", "luksDump", "--dump-json-metadata", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    expect(done.returncode == 0, f"cryptsetup luksDump {state} failed", done.stderr)
    uuid = subprocess.run(
        ["cryptsetup", "luksUUID", str(state)], capture_output=True, text=True, check=True
    ).stdout.strip()
    header: dict[str, Any] = json.loads(done.stdout)
    return {
        "uuid": uuid,
        "keyslots": header["keyslots"],
        "tokens": header["tokens"],
        "digests": header["digests"],
    }


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Run:
    """One test run: its directory, the image, the disks and the host's view of the guest."""

    options: Options
    steps: Steps
    image: Image
    data: dict[str, Any]
    directory: Path
    settings: Settings
    disks: Disks = field(init=False)
    public_keys: dict[str, str] = field(default_factory=dict)
    machines: list[Machine] = field(default_factory=list)
    tree_root: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    measurements: list[str] = field(default_factory=list)
    """``[snp] measurements`` of the policy (empty: not pinned)."""

    def __post_init__(self) -> None:
        self.disks = Disks(self.directory / "vm")

    @property
    def agent_port(self) -> int:
        return self.settings.forwards[AGENT_PORT]

    # --- host commands ---------------------------------------------------------------------

    def cairn(
        self, *args: str | Path, stdin: str | None = None, name: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the verifier (the host's ``cairn``), keeping its output in the run directory."""
        cairn = shutil.which("cairn")
        expect(cairn is not None, "the verifier (cairn) is not on PATH: run this through ./dev vm")
        assert cairn is not None
        argv = [cairn, *map(str, args)]
        try:
            done = subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=600, check=False
            )
        except subprocess.TimeoutExpired:
            raise StepError(f"{' '.join(argv[:3])} did not finish within 600 s") from None
        (self.directory / f"{name}.out").write_text(done.stdout)
        (self.directory / f"{name}.err").write_text(done.stderr)
        return done

    def policy(self, *, pin_keys: bool) -> Path:
        """The relying party's policy: this image's system, both services, their packages."""
        services = self.image.service_store_paths
        lines = [
            "# Written by ./dev vm: the guest must attest this image's system and both services",
            "# with this image's packages (and, from the second boot on, the first boot's keys).",
            "[evidence]",
            f"system_store_paths = [{json.dumps(self.image.system)}]",
            f"required_services = {json.dumps(list(SERVICES))}",
            "allow_unlisted_services = false",
        ]
        if self.measurements:
            lines += ["", "[snp]", f"measurements = {json.dumps(self.measurements)}"]
        for name in SERVICES:
            lines += [
                "",
                f"[evidence.services.{name}]",
                f"store_paths = [{json.dumps(services[name])}]",
            ]
            if pin_keys:
                lines.append(f"public_keys = [{json.dumps(self.public_keys[name])}]")
        path = self.directory / ("policy-pinned-keys.toml" if pin_keys else "policy.toml")
        path.write_text("\n".join(lines) + "\n")
        return path

    def root_pem(self) -> Path:
        """The simulated root the guest wrote into the xchg share on this boot."""
        return self.disks.xchg / "simulated-root.pem"

    def kept_root(self) -> Path:
        """The first boot's simulated root, kept in the run directory."""
        return self.directory / "simulated-root.pem"

    # --- steps -----------------------------------------------------------------------------

    def boot(self, number: int, *, tamper: bool, launch: str | None = None) -> Machine:
        (self.disks.xchg / "probe.json").unlink(missing_ok=True)
        self.root_pem().unlink(missing_ok=True)  # rewritten by the guest on every boot
        cmdline = render.kernel_command_line(self.data, tamper=tamper)
        console = self.directory / f"boot-{number}.console.log"
        self.steps.note(f"kernel command line: {cmdline}")
        self.steps.note(f"serial console: {console}")
        if launch is not None:
            self.steps.note(f"launch (SMBIOS type 1 version): {launch}")
        machine = Machine(
            self.image, self.disks, self.settings, cmdline=cmdline, console=console, launch=launch
        )
        self.machines.append(machine)
        return machine

    def wait_healthy(self, machine: Machine) -> None:
        """Until /healthz answers 200; fails at once when the probe shows the agent will not."""
        deadline = time.monotonic() + self.options.boot_timeout

        def ready() -> dict[str, Any] | None:
            health = healthz(self.agent_port)
            if health is not None:
                return health
            report = self.disks.xchg / "probe.json"
            if report.is_file():
                probe = json.loads(report.read_text())
                agent = probe["units"]["cairn-agent.service"]
                if agent["ActiveState"] in ("failed", "inactive"):
                    raise StepError(
                        f"the agent is {agent['ActiveState']} ({agent['Result']}) "
                        "and will not answer",
                        probe_diagnostics(probe) + "\n" + machine.diagnostics(40),
                    )
            return None

        health = wait_until(machine, deadline, "the agent's /healthz", ready)
        self.steps.note(
            f"/healthz: {health.get('status')}, "
            f"self-check {health.get('self_check', {}).get('status')}"
        )
        expect(
            health.get("self_check", {}).get("status") == "passed",
            "the agent's self-check did not pass",
            health,
        )

    def probe(self, machine: Machine) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.boot_timeout
        report = self.disks.xchg / "probe.json"
        wait_until(
            machine,
            deadline,
            "the guest's probe report (xchg/probe.json)",
            lambda: True if report.is_file() else None,
        )
        data: dict[str, Any] = json.loads(report.read_text())
        shutil.copyfile(report, self.directory / f"probe-{data['boot_id'][:8]}.json")
        for line in data.get("diagnostics", {}).get("timeline", []):
            if line and " Starting " not in line and " Mounting " not in line:
                self.steps.note(f"guest: {line[:150]}")
        return data

    def verify_evidence(self, tag: str, *, pin_keys: bool) -> dict[str, Any]:
        evidence = self.directory / f"evidence-{tag}.json"
        done = self.cairn(
            "verify", "evidence", f"http://127.0.0.1:{self.agent_port}",
            "--trust-simulated-root", self.root_pem(),
            "--policy", self.policy(pin_keys=pin_keys),
            "--cache-dir", self.directory / "collateral-cache",
            "-o", evidence, "--json",
            name=f"verify-evidence-{tag}",
        )  # fmt: skip
        expect(
            done.returncode == 0,
            f"cairn verify evidence exited {done.returncode}",
            done.stdout[-4000:] + done.stderr[-2000:],
        )
        result: dict[str, Any] = json.loads(done.stdout)
        counts: dict[str, int] = {}
        for check in result["checks"]:
            counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
        self.steps.note(
            f"VERIFIED: {', '.join(f'{n} {o}' for o, n in sorted(counts.items()))}; "
            f"bundle {evidence}"
        )
        claims = result["claims"]
        self.steps.note(f"system {claims['system']}; tree root {claims['tree_root']}")
        expect(
            claims["system"] == self.image.system, "the claimed system is not the image's", claims
        )
        expect(
            sorted(claims["services"]) == sorted(SERVICES),
            "the attested services are not both echo services",
            claims,
        )
        expect(
            any(w.startswith("SELF-REPORTED SYSTEM") for w in result["warnings"]),
            "no SELF-REPORTED SYSTEM warning",
            result["warnings"],
        )
        expect(
            any(w.startswith("SIMULATED") for w in result["warnings"]),
            "no SIMULATED warning",
            result["warnings"],
        )
        for warning in result["warnings"]:
            self.steps.note(f"warning: {warning[:150]}")
        result["evidence_file"] = str(evidence)
        return result

    def check_service(self, name: str, result: Mapping[str, Any], tag: str) -> None:
        """Request → signed response → key of the attested service, end to end."""
        port = self.settings.forwards[SERVICE_PORTS[name]]
        request_id, payload = f"vm-{tag}-{name}", f"hello {name} from the host"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(f"{request_id} {payload}\n".encode())
            response = connection.makefile("rb").readline().decode()
        expect(response.startswith(f"OK {request_id} "), f"{name} answered {response!r}")
        (self.directory / f"response-{tag}-{name}.txt").write_text(response)
        self.steps.note(f"{name} on 127.0.0.1:{port}: {response.strip()[:100]}…")
        evidence, nonce, root = (
            result["evidence_file"],
            result["claims"]["nonce"],
            result["claims"]["tree_root"],
        )
        proof = self.directory / f"proof-{tag}-{name}.json"
        done = self.cairn(
            "tree", "proof", evidence, name, "-o", proof, name=f"tree-proof-{tag}-{name}"
        )
        expect(
            done.returncode == 0, f"cairn tree proof {name} exited {done.returncode}", done.stderr
        )
        done = self.cairn("tree", "verify", proof, "--root", root, name=f"tree-verify-{tag}-{name}")
        expect(
            done.returncode == 0,
            f"cairn tree verify {name} exited {done.returncode}",
            done.stdout + done.stderr,
        )
        self.steps.note(done.stdout.strip())
        common = (
            "--evidence", evidence, "--service", name, "--nonce", nonce,
            "--trust-simulated-root", self.root_pem(),
            "--policy", self.policy(pin_keys=bool(self.public_keys)),
            "--cache-dir", self.directory / "collateral-cache",
            "--request-id", request_id, "--payload", payload,
        )  # fmt: skip
        done = self.cairn(
            "verify", "response", "-", *common, stdin=response, name=f"verify-response-{tag}-{name}"
        )
        expect(
            done.returncode == 0,
            f"cairn verify response ({name}) exited {done.returncode}",
            done.stdout[-3000:] + done.stderr,
        )
        self.steps.note(
            f"cairn verify response --evidence --service {name}: exit 0 "
            f"(the attested {name} signed it)"
        )
        fields = response.split()
        last = fields[3][-1]
        fields[3] = fields[3][:-1] + ("0" if last != "0" else "1")
        forged = " ".join(fields) + "\n"
        done = self.cairn(
            "verify", "response", "-", *common, stdin=forged, name=f"verify-forged-{tag}-{name}"
        )
        expect(
            done.returncode == EXIT_SIGNATURE_INVALID,
            f"a response with a changed signature gave exit {done.returncode}, not 2",
            done.stdout[-3000:],
        )
        self.steps.note("the same response with one signature digit changed: exit 2 (refused)")

    def power_off(self, machine: Machine) -> None:
        seconds = machine.power_off(timeout=180)
        self.steps.note(
            f"ACPI power button → powered off in {seconds:.1f} s; swtpm and QEMU stopped"
        )


def private_directory_mode(systemd_version: str) -> str:
    """The mode a service's private key directory has once it runs, by systemd version.

    cairn-service-key makes the directory 0700 (ExecStartPre). systemd 252 (Debian 12) applies
    StateDirectoryMode= (0755, for the public key directory the unit shares it with) again to the
    existing directory each time it starts a process of the unit, so it ends up 0755; later
    systemd leaves an existing directory's mode alone ("already exists but the mode is
    different"), which is what the NixOS VM test checks. The key file is 0600 either way.
    """
    match = re.match(r"systemd (\d+)", systemd_version)
    expect(match is not None, f"unexpected systemd version line {systemd_version!r}")
    assert match is not None
    return "755" if int(match[1]) <= 252 else "700"


def probe_diagnostics(probe: Mapping[str, Any]) -> str:
    """The guest's own account of a failed boot, from its probe report."""
    lines = ["--- guest: Cairn units ---"]
    for unit, state in probe["units"].items():
        lines.append(
            f"{unit}: {state['ActiveState']}/{state['SubState']} (result {state['Result']})"
        )
    diagnostics = probe.get("diagnostics", {})
    for title, key in (
        ("failed units", "failed_units"),
        ("pending jobs", "jobs"),
        ("warnings and errors", "warnings"),
    ):
        entries = [line for line in diagnostics.get(key, []) if line]
        if entries:
            lines.append(f"--- guest: {title} ---")
            lines.extend(entries)
    lines.append("--- guest: state volume journal ---")
    lines.extend(probe.get("journal", []))
    return "\n".join(lines)


def check_first_boot(run: Run, probe: Mapping[str, Any]) -> None:
    tokens, keyslots = probe["luks"]["tokens"], probe["luks"]["keyslots"]
    expect([t["type"] for t in tokens] == ["systemd-tpm2"], f"tokens: {tokens}", probe)
    expect(
        tokens[0]["tpm2-pcrs"] == [7],
        f"the token is sealed to PCRs {tokens[0]['tpm2-pcrs']}, not [7]",
        probe,
    )
    expect(
        keyslots == tokens[0]["keyslots"],
        f"keyslots {keyslots}: the key-file slot was not wiped",
        probe,
    )
    expect(
        any("formatting /dev/vdb as LUKS2" in line for line in probe["journal"]),
        "no first-boot format in the journal",
        probe,
    )
    run.steps.note(f"LUKS2 sealed: token systemd-tpm2 on PCR 7, keyslots {keyslots}")
    check_first_boot_common(run, probe)


def check_first_boot_common(run: Run, probe: Mapping[str, Any]) -> None:
    """What every key source's first boot shows: the units up, the volume marked sealed and
    mounted, the services' keys, the booted system and the exported simulated root."""
    units = probe["units"]
    for unit in FIRST_BOOT_ACTIVE:
        expect(
            units[unit]["ActiveState"] == "active", f"{unit} is {units[unit]['ActiveState']}", probe
        )
    expect(
        units["cairn-test-tamper-pcr7.service"]["ConditionResult"] == "no",
        "the tamper unit ran on a normal boot",
        probe,
    )
    expect(
        probe["subsystem"] == "cairn-sealed",
        f"the LUKS2 header is marked {probe['subsystem']!r}",
        probe,
    )
    expect(
        probe["mounted_from"] == "/dev/mapper/cairn-state",
        f"/var/lib/cairn is mounted from {probe['mounted_from']!r}",
        probe,
    )
    directory_mode = private_directory_mode(probe["systemd"])
    for name in SERVICES:
        service = probe["services"][name]
        expect(
            len(service["public_key"].strip()) == 66,
            f"{name}: public key file {service['public_key']!r}",
            probe,
        )
        expect(
            service["key_mode"] == "600" and service["key_owner"] == name,
            f"{name}: signing.key is {service['key_mode']} owned by {service['key_owner']!r}",
            probe,
        )
        expect(
            service["private_dir_mode"] == directory_mode,
            f"{name}: private key directory mode {service['private_dir_mode']}, "
            f"expected {directory_mode}",
            probe,
        )
    run.steps.note("/var/lib/cairn from /dev/mapper/cairn-state")
    systemd = probe["systemd"].split(" (")[0]
    run.steps.note(
        "echo-cpp, echo-rust: keys made before start (signing.key 0600, own user; "
        f"directory {directory_mode}: {systemd}); agent and export units active"
    )
    expect(
        probe["booted_system"] == run.image.system,
        f"/run/booted-system is {probe['booted_system']}",
        probe,
    )
    exported = run.root_pem().read_text()
    expect(
        exported.startswith("-----BEGIN CERTIFICATE-----"),
        "xchg/simulated-root.pem is not a PEM certificate",
        exported[:200],
    )
    expect(
        probe["export_root"] == exported,
        "cairn-export-root in the guest and the xchg share disagree",
        probe["export_root"][:400],
    )
    run.steps.note(
        "the simulated root in the xchg share is what cairn-export-root prints in the guest"
    )


def check_reboot(run: Run, probe: Mapping[str, Any]) -> None:
    units = probe["units"]
    for unit in (
        "cairn-state-init.service",
        CRYPTSETUP_UNIT,
        "var-lib-cairn.mount",
        "cairn-agent.service",
    ):
        expect(
            units[unit]["ActiveState"] == "active", f"{unit} is {units[unit]['ActiveState']}", probe
        )
    journal = probe["journal"]
    expect(
        any("nothing to do" in line for line in journal),
        "cairn-state-init did not recognise its sealed volume",
        journal,
    )
    expect(
        not any("formatting" in line for line in journal),
        "the state volume was formatted again on a reboot",
        journal,
    )
    expect(
        probe["mounted_from"] == "/dev/mapper/cairn-state",
        "/var/lib/cairn is not mounted from the TPM-unlocked volume",
        probe,
    )
    for name in SERVICES:
        expect(
            probe["services"][name]["public_key"].strip() == run.public_keys[name],
            f"{name}'s public key changed",
            probe,
        )
    run.steps.note(
        "unlocked from the TPM without a prompt; cairn-state-init: sealed volume, "
        "nothing to do; same keys"
    )


def check_tampered(run: Run, probe: Mapping[str, Any]) -> None:
    units = probe["units"]
    tamper, agent = units["cairn-test-tamper-pcr7.service"], units["cairn-agent.service"]
    expect(
        tamper["ActiveState"] == "active" and tamper["ConditionResult"] == "yes",
        "the tamper unit did not run",
        probe,
    )
    expect(
        units[CRYPTSETUP_UNIT]["ActiveState"] == "failed",
        f"{CRYPTSETUP_UNIT} is {units[CRYPTSETUP_UNIT]['ActiveState']}, not failed",
        probe,
    )
    expect(
        units["var-lib-cairn.mount"]["ActiveState"] != "active",
        "/var/lib/cairn is mounted after a refused unseal",
        probe,
    )
    expect(probe["mounted_from"] == "", "/var/lib/cairn is mounted after a refused unseal", probe)
    expect(
        units["cairn-agent.service"]["ActiveState"] != "active",
        "the agent runs without its state",
        probe,
    )
    expect(
        units["cairn-state-init.service"]["ActiveState"] == "active",
        "cairn-state-init did not accept its sealed volume",
        probe,
    )
    expect(
        probe["subsystem"] == "cairn-sealed",
        f"the header is marked {probe['subsystem']!r}, not cairn-sealed",
        probe,
    )
    expect(
        not any("formatting" in line for line in probe["journal"]),
        "the state volume was formatted again",
        probe["journal"],
    )
    run.steps.note("PCR 7 extended before cryptsetup (tamper unit ran)")
    run.steps.note(
        f"{CRYPTSETUP_UNIT}: failed; /var/lib/cairn not mounted; "
        f"cairn-agent: {agent['ActiveState']} ({agent['Result']})"
    )
    for line in probe["journal"]:
        if "cryptsetup" in line.lower() or "tpm" in line.lower() or "unseal" in line.lower():
            run.steps.note(f"guest journal: {line[:160]}")


def new_run_directory(cache: Path) -> Path:
    runs = cache / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = runs / stamp
    suffix = 0
    while directory.exists():
        suffix += 1
        directory = runs / f"{stamp}-{suffix}"
    directory.mkdir()
    for old in sorted(p for p in runs.iterdir() if p.is_dir())[:-KEPT_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    return directory


def run_test(options: Options, steps: Steps) -> None:
    image = Builder(
        options.cache, steps, rebuild=options.rebuild, key_source=options.key_source
    ).image()
    data = nixos.load(options.key_source)
    directory = new_run_directory(options.cache)
    with steps.step("set up: accelerator, ports, disks, a new TPM"):
        accel, why = choose_accel(options.accel)
        steps.note(f"accelerator: {accel} ({why})")
        forwards = {guest: free_port() for guest in forwarded_guest_ports(data)}
        steps.note(
            "forwarded (127.0.0.1 only): "
            + ", ".join(f"{h} -> guest {g}" for g, h in sorted(forwards.items()))
        )
        run = Run(options, steps, image, data, directory, settings_for(data, accel, forwards))
        run.disks.create(image, state_disk_mib(data))
        steps.note(
            f"run directory: {directory}; state disk {state_disk_mib(data)} MiB; "
            f"image {image.directory}"
        )
    try:
        if options.key_source == "snp-derived":
            from .derived import derived_boots  # the snp-derived scenario

            derived_boots(run)
        else:
            first_boot(run)
            second_boot(run)
            tampered_boot(run)
        with steps.step("host: nothing left running"):
            left = [
                f"{name} (pid {process.pid})"
                for machine in run.machines
                for name, process in (("QEMU", machine.qemu), ("swtpm", machine.swtpm))
                if process is not None and process.poll() is None
            ]
            expect(not left, f"still running: {', '.join(left)}")
            steps.note(f"{len(run.machines)} QEMU and swtpm pairs started, all exited")
    finally:
        if not options.keep:
            for leftover in (run.disks.root, run.disks.state):
                leftover.unlink(missing_ok=True)
    steps.note(f"logs, evidence, proofs and responses are in {directory}")


def first_boot(run: Run) -> None:
    steps = run.steps
    with steps.step("boot 1: start swtpm and QEMU (first boot)"):
        machine = run.boot(1, tamper=False)
    with machine:
        with steps.step("boot 1: wait for the agent to be healthy"):
            run.wait_healthy(machine)
        with steps.step("boot 1: state volume created and sealed, services' keys, simulated root"):
            check_first_boot(run, run.probe(machine))
        with steps.step("boot 1: cairn verify evidence (policy: system pinned, both services)"):
            result = run.verify_evidence("boot-1", pin_keys=False)
        evidence = json.loads(Path(result["evidence_file"]).read_text())
        run.public_keys = {s["name"]: s["public_key"] for s in evidence["claims"]["services"]}
        shutil.copyfile(run.root_pem(), run.kept_root())
        run.tree_root = result["claims"]["tree_root"]
        for name in SERVICES:
            with steps.step(
                f"boot 1: {name}: request, tree proof, verify response against the attested key"
            ):
                run.check_service(name, result, "boot-1")
        with steps.step("boot 1: power off"):
            run.power_off(machine)
    with steps.step("host: the state disk's LUKS2 header"):
        run.header = luks_header(run.disks.state)
        steps.note(f"LUKS2 UUID {run.header['uuid']}, keyslots {sorted(run.header['keyslots'])}")


def second_boot(run: Run) -> None:
    steps = run.steps
    with steps.step("boot 2: start swtpm and QEMU (same disks, same TPM)"):
        machine = run.boot(2, tamper=False)
    with machine:
        with steps.step("boot 2: wait for the agent to be healthy"):
            run.wait_healthy(machine)
        with steps.step("boot 2: unlocked from the TPM, nothing re-created"):
            check_reboot(run, run.probe(machine))
            same_root = run.root_pem().read_text() == run.kept_root().read_text()
            expect(
                same_root,
                "the simulated root changed across the reboot (the agent's state was lost)",
            )
            run.steps.note("the agent's simulated root is the first boot's (its state survived)")
        with steps.step("boot 2: cairn verify evidence (first boot's keys pinned too)"):
            result = run.verify_evidence("boot-2", pin_keys=True)
            expect(
                result["claims"]["tree_root"] == run.tree_root,
                "the tree root changed across the reboot",
                result["claims"],
            )
            steps.note(f"same tree root as the first boot: {run.tree_root}")
        for name in SERVICES:
            with steps.step(f"boot 2: {name}: request, tree proof, verify response"):
                run.check_service(name, result, "boot-2")
        with steps.step("boot 2: power off"):
            run.power_off(machine)
    with steps.step("host: the same LUKS2 header after the reboot"):
        header = luks_header(run.disks.state)
        expect(
            header == run.header,
            "the state disk's LUKS2 header changed across the reboot",
            {"before": run.header, "after": header},
        )
        steps.note(f"LUKS2 UUID {header['uuid']}: unchanged")


def expect_evidence_unavailable(run: Run, boot: int) -> None:
    """The step after a boot whose state stayed locked: `cairn verify evidence` against its
    agent exits 6 (evidence unavailable), and the first line of why is noted."""
    steps = run.steps
    with steps.step(f"boot {boot}: cairn verify evidence reports the agent unavailable (exit 6)"):
        done = run.cairn(
            "verify", "evidence", f"http://127.0.0.1:{run.agent_port}",
            "--trust-simulated-root", run.kept_root(),
            name=f"verify-evidence-boot-{boot}",
        )  # fmt: skip
        expect(
            done.returncode == EXIT_EVIDENCE_UNAVAILABLE,
            f"cairn verify evidence exited {done.returncode}, not 6",
            done.stdout + done.stderr,
        )
        first = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
        steps.note(f"exit 6: {first[:160]}")


def tampered_boot(run: Run) -> None:
    steps = run.steps
    before = file_digest(run.disks.state)
    with steps.step(f"boot 3: start with {render.TAMPER_FLAG} (PCR 7 extended before cryptsetup)"):
        machine = run.boot(3, tamper=True)
    with machine:
        with steps.step("boot 3: unsealing refused, state locked, agent not started"):
            check_tampered(run, run.probe(machine))
            expect(
                not agent_reachable(run.agent_port),
                "the agent answers although its state is locked",
            )
        expect_evidence_unavailable(run, 3)
        with steps.step("boot 3: power off"):
            run.power_off(machine)
    with steps.step("host: not one byte of the state disk changed"):
        after = file_digest(run.disks.state)
        expect(
            after == before,
            "the state disk changed during the refused boot",
            {"before": before, "after": after},
        )
        expect(luks_header(run.disks.state) == run.header, "the LUKS2 header changed")
        steps.note(
            f"sha256 {after} before and after: the volume sealed on the first boot is intact "
            "and locked"
        )
