"""Azure confidential VMs: the HCL report in the vTPM, its runtime data, the vTPM quote, and the
pipeline that ties them to an SEV-SNP report or a TDX quote (docs/cloud.md,
docs/spec/azure-vtpm-v1.md)."""
