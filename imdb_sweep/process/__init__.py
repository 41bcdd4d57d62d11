"""Process-wide settings: each is one-way for the process, so each is applied in
one named place (process_wide.py) and nowhere else."""
