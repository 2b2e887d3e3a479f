"""``batchyard ui``: a live web view of the platform's read models (docs/ui.md)."""
