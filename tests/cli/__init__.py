"""CLI tests (a package so that module names such as test_train may repeat elsewhere in tests/)."""
