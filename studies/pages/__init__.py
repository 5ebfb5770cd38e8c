"""The server-rendered pages of the review database, one module per part of the workflow, as
``studies/api/`` has its endpoints: views translate HTTP (Django forms in, templates out), ask
``studies.access`` who may do what, read through the selectors and write through one service call."""
