"""Converters from a file's bytes to a document's canonical text, one module per format.

``toolmesh.servers.docs.formats`` chooses the reader by file kind; each reader raises
:class:`~toolmesh.servers.docs.errors.ExtractionError` for input it cannot read, and the indexer turns any
failure into a skipped file with its reason.
"""
