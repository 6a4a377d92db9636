"""SHA-256 of the circuits/ files that cairn runs or trusts (generated: do not edit).

Written by ``scripts/zk_build.py`` from the checkout; :func:`.circuits.check_pinned_files`
refuses a circuits directory whose driver, compiled artefacts or npm manifests differ.
"""

from __future__ import annotations

from typing import Final

PINNED_FILES: Final[dict[str, str]] = {
    "artifacts/cairn_membership.insecure-dev.vk": "029ad27cf68c21f293fcf914ce83ba63a40ea4c1c2085820796235d71ad568f5",
    "artifacts/cairn_membership.json": "16e36ee92b8b25f462a7a8cae8e8b44a6c1f9a4769835d13df070f9c8b2cf789",
    "driver/artifacts.mjs": "1baa9df4838e73174fdc3ac443e61021acfa7a07667bce0cd2e67108e76bf80e",
    "driver/backend.mjs": "4280e8fca75f096691678c54e1b5793e5ca9b2071337224d40eb41bd154af22c",
    "driver/cairn-zk.mjs": "ed71bfec0dce8648ee81e9dfd98864fd3e16bf179744b0d2ed5afcae7ce5a382",
    "driver/crs.mjs": "1360ba94c2fb2a1431a1f2a5d3433ec626d58434ec955c1a873ca99e952b30ee",
    "package-lock.json": "0ef414b5c71ded6e1adae5d7772f934536c677a6a868cff493f6f5891041b3b7",
    "package.json": "1d93b91c18459828d46431e5b74249be6a0e47f78c870c703a6cabc86bef22e8",
}
