"""``cairn serve``: the verifier and key broker as a service (docs/serve.md).

An aiohttp application (``app.py``) that issues single-use nonces, verifies evidence bundles
with the same pipeline as ``cairn verify evidence`` and answers with a signed IETF RATS EAR
attestation result (``ear.py``), and releases a resource's secret, wrapped to the channel key the
guest bound into its evidence (``wrap.py``), when the resource's policy (``resources.py``)
accepts the result. State lives in SQLite or PostgreSQL (``store.py``, same schema); every release
and refusal is appended to a hash-chained audit log (``audit.py``).

Nothing here is imported by ``cairn`` unless ``cairn serve`` runs: it needs the ``serve`` extra
(aiohttp, joserfc, psycopg).
"""
