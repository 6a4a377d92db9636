# vTPM reference values of the cloud CVM: `cairn reference-values --uki` over the exact UKI on the
# image's ESP. The output is a policy file with an [evidence.pcrs.sha256] table: PCR 11 as
# systemd-measure computes it (systemd-stub's sections, then the boot phases up to "ready"), PCR 4
# and PCR 9 as the firmware and the kernel measure a UKI booted as the only boot application
# (docs/reference-values.md says what each assumes). Use it with
# `cairn verify evidence --policy`, after the agent quotes PCRs 4, 9 and 11 (tpm.pcrs).
{
  runCommand,
  cairn-verifier,
  uki,
}:
runCommand "cairn-vtpm-reference-values.toml" { nativeBuildInputs = [ cairn-verifier ]; } ''
  cairn reference-values --uki ${uki} --bank sha256 --phase ready -o $out
''
