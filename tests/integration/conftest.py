from tests.harness.fixtures import nspawn_host, standin_payloads  # noqa: F401 (fixtures)
