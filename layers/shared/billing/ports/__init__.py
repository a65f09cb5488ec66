"""What the services need from the outside world, as Protocols; adapters implement them.

One module per use case, each importing only the domain types it names, so a function
loads the ports it uses and nothing else. Import from the module
(``from billing.ports.entitlements import EntitlementStore``): this package re-exports
nothing, or every handler would load every port again."""
