"""The command line and the demo: the one package that imports wire, edge, central and sims."""
