"""Fixtures shared by every member's tests live in ``testsupport/``; this only registers them."""

pytest_plugins = [
    "testsupport.data",
    "testsupport.reporting",
    "testsupport.api",
    "testsupport.mlflow",
    "testsupport.browser",
    "testsupport.postgres",
    "testsupport.proxy",
    "testsupport.docker",
    "testsupport.children",
    "testsupport.ci",
]
