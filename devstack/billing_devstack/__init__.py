"""Docker-free local stack: DynamoDB Local, moto and Lambda-like workers, from template.yaml.

Kept import-light on purpose: ``billing_devstack.worker`` runs inside every function's process, and
anything imported here would be preloaded into the handler's interpreter.
"""
