"""The config: where its yaml files are (location.py), what it may hold (schema/:
every key's type, default and allowed values; choices.py: the named choices code
and schema share), the one check of a composed config against it (validation.py),
and what it means for a run's identity (identity.py: which keys change what is trained)."""
