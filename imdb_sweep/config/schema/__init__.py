"""Dataclass schemas of the config groups (issue 20). Until that package lands, this
branch carries small stand-ins of its API: fields.py (the field helpers) and models.py
(MODEL_FAMILIES); the model families' own schemas are in families.py."""
