"""RevMan 5 out of the review: each outcome analysed with its own settings (``analyse``), the parity
report against the results a RevMan file stored (``parity``), and the .rm5 / CSV export (``export``).
The file's reading and the import's writes are the review database's (``studies.revman``,
``studies.services.revman``)."""
