"""What a job's config may hold (choices, validation) and what it means for a
run's identity (which keys change what is trained)."""
