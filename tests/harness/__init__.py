"""Test harnesses shared by the integration and acceptance tests."""
