"""The config: where its yaml files are (location.py), what it may hold
(choices.py, validation.py), and what it means for a run's identity
(identity.py: which keys change what is trained)."""
