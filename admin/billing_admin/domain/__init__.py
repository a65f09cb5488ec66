"""The catalog's rules (pure): what a catalog file says and which changes it asks for."""
