"""Training-plane code (extra ``ml``): data, preprocessing, training, the gate, the trainer worker.

The serving plane never imports this package (services/api/tests/test_dependencies.py).
"""
