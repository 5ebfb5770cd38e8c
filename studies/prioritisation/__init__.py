"""Screening prioritisation: rank the title/abstract queue by predicted relevance, and a stopping
rule with a stated guarantee.

Pure Python over NumPy/SciPy/scikit-learn: no Django, no database (import contract
``prioritisation-is-pure`` in .importlinter). The product (studies.services.prioritisation, the
Celery task) and the simulation command (``manage.py screening_simulate``) both call these same
functions, so what the benchmark measures is what screeners get.
"""
