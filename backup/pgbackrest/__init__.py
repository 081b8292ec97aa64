"""pgBackRest repositories read with plain S3 GETs: info files, manifests, stored files, the WAL archive.

Nothing here runs the pgBackRest binary except :mod:`.restore` (the drill). The formats
are those of pgBackRest 2.45 (``backrest-format=5``), measured in
``shared/anchors/turn2-anchors.md`` section 3.
"""
