"""TEE evidence providers: configfs-tsm, /dev/sev-guest, /dev/tdx_guest and simulated ones."""
