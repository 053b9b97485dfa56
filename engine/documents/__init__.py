"""Documents handed in with a case: where their bytes are kept and how an upload is checked.

:mod:`engine.documents.storage` keeps files content-addressed by SHA-256 in a local folder or an
S3-compatible bucket, never overwriting one; :mod:`engine.documents.inspection` decides from the
bytes alone what an upload is (PDF, JPEG, PNG, OFD), how many pages it has, and refuses empty,
oversized, mistyped, badly named, corrupt and bomb files, naming the material. Neither touches the
database: the engine stores a file before the transaction that references it commits.
"""
