# TDX reference values of cvm-tdx: `cairn reference-values --tdx` over the exact TDVF, kernel,
# initrd and command line QEMU is given (direct boot, packages.cvm-tdx-boot), for the TD's
# memory size (QEMU patches the kernel's setup header by it, so RTMR[1] depends on it). The
# output is a policy file with a [tdx] table: mr_td (both page-add orders), rtmr1, rtmr2.
# RTMR[0] (TD HOB, QEMU's ACPI tables) is not computed: pin it from a known-good quote.
{
  runCommand,
  cairn-verifier,
  tdvf,
  boot,
  memory ? "4G",
}:
runCommand "cairn-tdx-reference-values.toml" { nativeBuildInputs = [ cairn-verifier ]; } ''
  cairn reference-values --tdx \
    --firmware ${tdvf.firmware} \
    --kernel ${boot}/kernel \
    --initrd ${boot}/initrd \
    --append "$(cat ${boot}/cmdline)" \
    --memory ${memory} \
    -o $out
''
