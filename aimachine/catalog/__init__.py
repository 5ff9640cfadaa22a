"""catalog/: catalog.yml as typed objects: the schema with each field's check, default and doc (schema.py),
the checks (checks.py), the YAML source with line numbers (yamlsrc.py). Pure: no network, no pyinfra."""
