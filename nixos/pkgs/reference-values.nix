# Expected SEV-SNP launch measurements of a Cairn VM: `cairn reference-values` (which runs
# sev-snp-measure) over the exact firmware, kernel, initrd and command line the VMM is given
# (direct kernel boot), for every configured vCPU count and CPU type. The output is the
# verifier's reference-values file: `{"snp": {"measurements": [...]}, "inputs": [...], ...}`,
# usable with `cairn verify snp --reference-values` and `cairn verify evidence --reference-values`
# (which also checks the agent's system claim against the init= of the recorded command line).
{
  lib,
  runCommand,
  python3Packages,
  cairn-verifier,
  ovmf,
  boot,
  vcpuCounts ? [
    2
    4
    8
  ],
  vcpuTypes ? [
    "EPYC-Milan"
    "EPYC-Genoa"
  ],
  guestFeatures ? "0x1",
}:
let
  # The verifier imports sev-snp-measure (module sevsnpmeasure) only to compute measurements.
  verifier = cairn-verifier.overridePythonAttrs (old: {
    dependencies = old.dependencies ++ [ python3Packages.sev-snp-measure ];
  });
in
runCommand "cairn-reference-values.json" { nativeBuildInputs = [ verifier ]; } ''
  cairn reference-values \
    --ovmf ${ovmf.firmware} \
    --kernel ${boot}/kernel \
    --initrd ${boot}/initrd \
    --append "$(cat ${boot}/cmdline)" \
    --vcpus ${lib.concatMapStringsSep "," toString vcpuCounts} \
    ${lib.concatMapStringsSep " " (type: "--vcpu-type ${type}") vcpuTypes} \
    --guest-features ${guestFeatures} \
    --vmm-type QEMU \
    -o $out
''
