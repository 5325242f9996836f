"""Tests of posecli.data (a package so that module names may repeat elsewhere in tests/)."""
