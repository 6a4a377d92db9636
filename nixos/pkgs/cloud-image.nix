# The cloud CVM's disk image (systemd-repart, raw) in the form each cloud imports:
#   azure: a fixed-size VHD whose virtual size is a whole number of MiB (Azure's requirement),
#   gcp:   disk.raw in a gzip-compressed, sparse tar archive (`gcloud compute images create
#          --source-uri`),
#   aws:   a VHD (`aws ec2 import-snapshot`, then `register-image --boot-mode uefi`).
# The same bytes of the same system in every case: the vTPM reference values do not depend on
# the cloud, only on its firmware's measurements (docs/reference-values.md).
{
  runCommand,
  qemu-utils,
  gnutar,
  gzip,
  image,
  imageFile,
  cloud,
}:
# `cloud` is one of azure, gcp, aws (any other name fails on the attribute lookup below).
runCommand "cairn-cvm-cloud-${cloud}"
  {
    nativeBuildInputs = [
      qemu-utils
      gnutar
      gzip
    ];
  }
  (
    ''
      mkdir -p $out
      cp --sparse=always ${image}/${imageFile} disk.raw
      chmod u+w disk.raw
    ''
    + {
      azure = ''
        size=$(stat -c %s disk.raw)
        mib=$(( (size + 1048575) / 1048576 * 1048576 ))
        qemu-img resize -f raw disk.raw "$mib"
        qemu-img convert -f raw -o subformat=fixed,force_size -O vpc disk.raw $out/disk.vhd
      '';
      gcp = ''
        tar --format=oldgnu -Sc disk.raw | gzip -9 > $out/cairn-cvm-cloud.raw.tar.gz
      '';
      aws = ''
        qemu-img convert -f raw -O vpc disk.raw $out/disk.vhd
      '';
    }
    .${cloud}
  )
