"""SHA-256 of the circuits/ files that cairn runs or trusts (generated: do not edit).

Written by ``scripts/zk_build.py`` from the checkout; :func:`.circuits.check_pinned_files`
refuses a circuits directory whose driver, compiled artefacts or npm manifests differ.
"""

from __future__ import annotations

from typing import Final

PINNED_FILES: Final[dict[str, str]] = {
    "artifacts/cairn_membership.insecure-dev.vk": "029ad27cf68c21f293fcf914ce83ba63a40ea4c1c2085820796235d71ad568f5",
    "artifacts/cairn_membership.json": "93456a6ab182391df0f7b6f495d42a2fa23ee293784910e91c95ec9ce33910c9",
    "driver/artifacts.mjs": "d92076ca9b3891bbc6944e8e1e9994bdeb3b6c9e2f5222d029fcdb3c1502f0a4",
    "driver/backend.mjs": "6182272722f1b1cba9906f32fcb7803fed82ac30d50cd15d155b74948a39c0b9",
    "driver/cairn-zk.mjs": "aaa13341b1e5270f603a81e7b9925445437cb2a26417a4291f677b17cd1a9203",
    "driver/crs.mjs": "1360ba94c2fb2a1431a1f2a5d3433ec626d58434ec955c1a873ca99e952b30ee",
    "package-lock.json": "b694641d2dedf8a9630cf00678e30612a499ab7bc2228e1b2d1a1188362e07a3",
    "package.json": "ed15b35f0896beb0a2bafd4c7575a8565a64b8d99b06b06910d1eb0d2ff4d8ab",
}
