"""Pure business rules: no I/O, no Prefect, no database; unit-tested in milliseconds."""
