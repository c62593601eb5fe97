"""Test support: real PostgreSQL and real server processes for vigil's tests."""
