"""End-to-end scenarios in real processes: the command line, recovery, parallel, Ray, PostgreSQL,
server, serving, compose and packaging."""
