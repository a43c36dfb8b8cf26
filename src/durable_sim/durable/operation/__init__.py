"""One module per operation kind, as in the SDK's own ``operation`` package."""
