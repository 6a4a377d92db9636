"""Poseidon2 and the service tree: hashes/s, tree build for 10 / 1,000 / 10,000 services, one
insert into a 10,000-leaf tree, proof size and proof verification.

Run with ``nox -s bench``; written up in docs/performance.md. The floor for a tree operation is
the number of Poseidon2 hashes it needs; ``test_hash2`` measures one.
"""

from __future__ import annotations

import random
import time
from functools import cache

import pytest

from cairn_verifier.binding import poseidon2
from cairn_verifier.binding.smt import SparseMerkleTree, verify_proof


@cache
def _entries(count: int) -> dict[int, int]:
    rng = random.Random(count)
    return {rng.randrange(poseidon2.P): rng.randrange(poseidon2.P) for _ in range(count)}


@cache
def _tree(count: int) -> SparseMerkleTree:
    return SparseMerkleTree(_entries(count))


def test_hash2(benchmark) -> None:
    benchmark.group = "poseidon2"
    benchmark.extra_info["backend"] = poseidon2.BACKEND
    benchmark(poseidon2.hash2, 1, 2)


@pytest.mark.parametrize("count", [10, 1_000, 10_000])
def test_tree_build(benchmark, count: int) -> None:
    benchmark.group = "tree-build"
    benchmark.extra_info["backend"] = poseidon2.BACKEND
    entries = _entries(count)
    cpu: list[float] = []

    def build() -> SparseMerkleTree:
        start = time.process_time()
        tree = SparseMerkleTree(entries)
        cpu.append(time.process_time() - start)
        return tree

    tree = benchmark.pedantic(build, rounds=1, iterations=1)
    benchmark.extra_info["cpu_seconds"] = cpu[0]  # steadier than wall time on a loaded machine
    assert len(tree) == count


def test_insert_and_delete_in_10000(benchmark) -> None:
    """One insert plus one delete (the tree must stay the same across rounds)."""
    tree = _tree(10_000)
    key = random.Random(1).randrange(poseidon2.P)
    root = tree.root

    def insert_and_delete() -> None:
        tree.insert(key, 7)
        tree.delete(key)

    benchmark.group = "tree-insert"
    benchmark(insert_and_delete)
    assert tree.root == root


@pytest.mark.parametrize("count", [10, 1_000, 10_000])
def test_proof_verification(benchmark, count: int) -> None:
    tree = _tree(count)
    key, value = next(iter(_entries(count).items()))
    proof = tree.prove(key)
    benchmark.group = "tree-proof"
    benchmark.extra_info["proof_bytes"] = len(proof.to_bytes())
    benchmark.extra_info["depth"] = proof.depth
    assert benchmark(verify_proof, tree.root, key, value, proof)
