"""agrad's command line (click): binds options, calls agrad, renders the result."""
