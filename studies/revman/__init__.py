"""Reading RevMan 5 files (.rm5): ``parse`` turns one into plain dataclasses, without Django. The import
that writes them is ``studies.services.revman``; the analysis, parity report and export are ``analysis.revman``."""
